"""The unix-socket HTTP/1.1 client against canned responses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hotfn.agent.transport import (
    BrokenResponse,
    ConnectFailed,
    ContainerClient,
    ResponseTooLarge,
)


class Served:
    """A unix server that answers each request with the next canned response."""

    def __init__(self, path: Path, responses: list[list[bytes] | None], close_after: bool):
        self.path = path
        self.responses = list(responses)
        self.close_after = close_after
        self.seen: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while self.responses:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                self.seen.append(head + await reader.readexactly(length))
                chunks = self.responses.pop(0)
                if chunks is None:  # never answer
                    await reader.read()  # until the client hangs up
                    break
                for chunk in chunks or ():
                    writer.write(chunk)
                    await writer.drain()
                    await asyncio.sleep(0.001)
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


Serve = Callable[..., Awaitable[tuple[ContainerClient, Served]]]


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    made: list[tuple[ContainerClient, Served]] = []

    async def make(
        responses: list[list[bytes] | None], close_after: bool = False
    ) -> tuple[ContainerClient, Served]:
        served = Served(tmp_path / f"s{len(made)}.sock", responses, close_after)
        served.server = await asyncio.start_unix_server(served.handle, path=str(served.path))
        client = ContainerClient(served.path)
        made.append((client, served))
        return client, served

    yield make
    for client, served in made:
        await client.close()
        assert served.server is not None
        served.server.close()
        await served.server.wait_closed()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nConnection: keep-alive\r\n\r\nhello"


async def test_content_length_and_keep_alive(serve: Serve) -> None:
    client, served = await serve([[OK], [OK[:20], OK[20:]]])
    r1 = await client.call([("Fn-Call-Id", "1")], b"abc")
    r2 = await client.call([("Fn-Call-Id", "2")], b"")
    assert (r1.status, r1.body, r1.headers) == (200, b"hello", [(b"x-a", b"1")])
    assert r2.body == b"hello"
    assert len(client._all) == 1  # one connection reused
    first = served.seen[0]
    assert first.startswith(b"POST /call HTTP/1.1\r\nHost: localhost\r\n")
    assert b"Fn-Call-Id: 1\r\n" in first and first.endswith(b"\r\n\r\nabc")


async def test_chunked(serve: Serve) -> None:
    resp = [
        b"HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"4\r\nboom\r\n",
        b"7;ext=1\r\n, sorry\r\n0\r\n",
        b"X-Trailer: 1\r\n\r\n",
    ]
    client, _served = await serve([resp, [OK]])
    r = await client.call([], b"")
    assert (r.status, r.body) == (502, b"boom, sorry")
    assert (await client.call([], b"")).body == b"hello"


async def test_body_until_close(serve: Serve) -> None:
    client, _served = await serve([[b"HTTP/1.0 200 OK\r\n\r\npart1", b"part2"]], close_after=True)
    r = await client.call([], b"")
    assert r.body == b"part1part2"
    assert not client._idle


async def test_large_request_and_response(serve: Serve) -> None:
    big = b"z" * 3_000_000
    resp = [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big), big]
    client, served = await serve([resp])
    r = await client.call([], big)
    assert r.body == big
    assert served.seen[0].endswith(big)  # type: ignore[attr-defined]


async def test_connection_closed_mid_response(serve: Serve) -> None:
    client, _served = await serve(
        [[b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"]], close_after=True
    )
    with pytest.raises(BrokenResponse):
        await client.call([], b"")


async def test_garbage_and_oversized_heads(serve: Serve) -> None:
    client, _ = await serve([[b"garbage\r\n\r\n"]])
    with pytest.raises(BrokenResponse, match="status line"):
        await client.call([], b"")
    head = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000
    client, _served = await serve([[head]])
    with pytest.raises(BrokenResponse, match="too large"):
        await client.call([], b"")


async def test_no_socket_is_connect_failed(tmp_path: Path) -> None:
    client = ContainerClient(tmp_path / "nothing.sock")
    with pytest.raises(ConnectFailed):
        await client.call([], b"")
    await client.close()


async def test_cancelled_call_closes_connection(serve: Serve) -> None:
    client, _served = await serve([None])  # never answers
    task = asyncio.create_task(client.call([], b""))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not client._all


@pytest.mark.parametrize(
    "resp",
    [
        [b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", b"hello world"],
        [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"6\r\nhello \r\n", b"5\r\n"
         b"world\r\n0\r\n\r\n"],
        [b"HTTP/1.0 200 OK\r\n\r\nhello ", b"world"],
    ],
    ids=["length", "chunked", "until-close"],
)  # fmt: skip
async def test_response_over_max_body(serve: Serve, resp: list[bytes]) -> None:
    client, _served = await serve([resp], close_after=True)
    with pytest.raises(ResponseTooLarge) as info:
        await client.call([], b"", max_body=10)
    assert info.value.limit == 10
    assert not client._idle  # the connection is not reused

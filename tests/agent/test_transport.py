"""The unix-socket HTTP/1.1 client against canned responses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hotfn.agent.transport import (
    READ_HIGH,
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


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


async def test_a_slow_body_streams_and_the_connection_is_kept(serve: Serve) -> None:
    pieces = [CHUNKED_HEAD, chunk(b"one "), chunk(b"two "), chunk(b"three") + b"0\r\n\r\n"]
    client, _served = await serve([pieces, [OK]])
    result = await client.open([], b"")
    assert result.status == 200 and result.body == b""
    stream = result.stream
    assert stream is not None and stream.length is None  # chunked: no length to pass on
    got = []
    while (data := await stream.read()) is not None:
        got.append(data)
    stream.close()
    assert b"".join(got) == b"one two three" and len(got) > 1
    assert (await client.call([], b"")).body == b"hello"
    assert len(client._all) == 1  # the same connection served the next call


async def test_a_large_body_is_held_back_not_buffered(serve: Serve) -> None:
    size = 16 * 1024 * 1024
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size
    client, _served = await serve([[head, b"q" * size]])
    result = await client.open([], b"")
    stream = result.stream
    assert stream is not None and stream.length == size
    await asyncio.sleep(0.3)  # the container writes as fast as it can meanwhile
    (conn,) = client._all
    assert conn.held <= READ_HIGH + 256 * 1024  # reading paused: bounded
    total = 0
    while (data := await stream.read()) is not None:
        total += len(data)
    stream.close()
    assert total == size


async def test_closing_a_stream_early_drops_its_connection(serve: Serve) -> None:
    client, _served = await serve([[CHUNKED_HEAD, chunk(b"a"), chunk(b"b")]])
    result = await client.open([], b"")
    assert result.stream is not None
    await result.stream.read()
    result.stream.close("the client went away")
    assert not client._all and not client._idle


async def test_a_request_body_still_arriving_is_sent_chunked(tmp_path: Path) -> None:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        body = b""
        while (size := int((await reader.readline()).strip(), 16)) > 0:
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readexactly(2)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))
        await writer.drain()
        writer.close()

    path = tmp_path / "c.sock"
    server = await asyncio.start_unix_server(handle, path=str(path))
    pieces = [b"second ", b"third"]

    async def rest() -> bytes | None:
        await asyncio.sleep(0.01)
        return pieces.pop(0) if pieces else None

    client = ContainerClient(path)
    try:
        result = await client.call([], b"first ", rest=rest)
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
    assert result.body == b"first second third"
    assert b"Transfer-Encoding: chunked\r\n" in seen[0]

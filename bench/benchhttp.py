"""A minimal keep-alive HTTP/1.1 client for the benchmarks: one request at a time
per connection, Content-Length answers only, far cheaper per call than a general
client, so the figures measure the server rather than the caller."""

from __future__ import annotations

import asyncio
import time


class Conn(asyncio.Protocol):
    """One connection; ``send`` answers (status, lower-cased head, body)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bytes]] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is None:
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        i = head.find(b"content-length:")
        if i < 0:
            self._fail(ConnectionError("answer without Content-Length"))
            return
        j = head.find(b"\r\n", i)
        length = int(head[i + 15 : j if j > 0 else None])
        total = end + 4 + length
        if len(self.buf) < total:
            return
        body = bytes(self.buf[end + 4 : total])
        del self.buf[:total]
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():  # not cancelled (the bench stopping)
            waiter.set_result((int(head[9:12]), head, body))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.waiter = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"connection lost ({exc})"))

    async def send(self, raw: bytes) -> tuple[int, bytes, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def tcp_conn(port: int) -> Conn:
    _, proto = await asyncio.get_running_loop().create_connection(Conn, "127.0.0.1", port)
    return proto


async def unix_conn(path: str) -> Conn:
    _, proto = await asyncio.get_running_loop().create_unix_connection(Conn, path)
    return proto


def post(path: str, body: bytes, extra: str = "") -> bytes:
    """A POST request's bytes (``extra``: more header lines, each ending in CRLF)."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: text/plain\r\n{extra}\r\n"
    ).encode() + body


async def latencies(conn: Conn, raw: bytes, n: int, out: list[float] | None = None) -> list[float]:
    """``n`` requests one after another on ``conn``, each answered 200 ``hello``: their
    latencies in ms (appended to ``out`` if given)."""
    out = [] if out is None else out
    for _ in range(n):
        t0 = time.perf_counter()
        status, _, body = await conn.send(raw)
        out.append((time.perf_counter() - t0) * 1000)
        assert status == 200 and body == b"hello", (status, body)
    return out

"""Benchmark (not a test): parsing container responses, hotfn's hand-written parser
in ``hotfn/agent/transport.py`` next to ``httptools`` (llhttp), in one run.

    .venv/bin/python bench/bench_response_parse.py [--rounds 15] [--n 20000]

The hand-written parser is kept here as it was in ``transport.py``; the transport's
own ``_Conn`` now parses with httptools. Both are fed the same bytes through the
same protocol path (a waiter future per response, one connection object reused)
and must give the same result (status, headers minus hop-by-hop ones, body,
keep-alive). Prints the median µs per response of each and the ratio (httptools /
hand-written; below 1: httptools is faster).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hotfn.agent.httpstream import HOP_BY_HOP_B, CallResult, RawHeaders
from hotfn.agent.transport import (
    MAX_HEAD,
    BrokenResponse,
    ResponseTooLarge,
    _Conn,
)

_UNLIMITED = 1 << 62
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _TRAILER, _EOF, _DONE = range(7)


def response(body: bytes, chunked: bool = False) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nFn-Fdk-Version: hotfn/0.1\r\n"
        b"Fn-Http-Status: 200\r\nDate: Thu, 03 Dec 2026 12:00:00 GMT\r\n"
    )
    if not chunked:
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 16384]), body[i : i + 16384])
        for i in range(0, len(body), 16384)
    )
    return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


class HandConn(asyncio.Protocol):
    """The hand-written parser transport.py had before httptools (kept here to
    compare against)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.buf = bytearray()
        self.waiter: asyncio.Future[CallResult] | None = None
        self.max_body = _UNLIMITED
        self._reset()

    def _reset(self) -> None:
        self.state = _HEAD
        self.status = 0
        self.headers: RawHeaders = []
        self.body = bytearray()
        self.remaining = 0
        self.keep_alive = True

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None:
            try:
                self._parse()
            except BrokenResponse as exc:
                self._fail(exc)

    def eof_received(self) -> bool | None:
        if self.state == _EOF:  # body framed by connection close
            self.body += self.buf
            self.buf.clear()
            self.keep_alive = False
            self._finish()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.state == _EOF and self.waiter is not None:
            self.body += self.buf
            self.keep_alive = False
            self._finish()
        self._fail(BrokenResponse(f"connection closed by the container ({exc or 'EOF'})"))

    # -- parsing ---------------------------------------------------------------------

    def _parse(self) -> None:
        buf = self.buf
        while True:
            state = self.state
            if state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise BrokenResponse("response header block too large")
                    return
                self._head(bytes(buf[:end]))
                del buf[: end + 4]
            elif state == _LENGTH:
                take = min(self.remaining, len(buf))
                self.body += buf[:take]
                del buf[:take]
                self.remaining -= take
                if self.remaining:
                    return
                self._finish()
                return
            elif state == _CHUNK_SIZE:
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                line = bytes(buf[:end]).split(b";", 1)[0].strip()
                del buf[: end + 2]
                try:
                    size = int(line, 16)
                except ValueError:
                    raise BrokenResponse("invalid chunk size in response") from None
                if size == 0:
                    self.state = _TRAILER
                else:
                    self.remaining = size + 2  # data + CRLF
                    self.state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                take = min(self.remaining, len(buf))
                self.body += buf[:take]
                del buf[:take]
                self.remaining -= take
                if len(self.body) > self.max_body + 2:
                    raise ResponseTooLarge(self.max_body)
                if self.remaining:
                    return
                del self.body[-2:]  # the chunk's CRLF
                self.state = _CHUNK_SIZE
            elif state == _TRAILER:  # trailer lines (ignored) end with an empty line
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                del buf[: end + 2]
                if end == 0:
                    self._finish()
                    return
            else:  # _EOF: everything until close is the body
                if len(buf) > self.max_body:
                    raise ResponseTooLarge(self.max_body)
                return

    def _head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        status_line = lines[0]
        if not status_line.startswith(b"HTTP/1.") or len(status_line) < 12:
            raise BrokenResponse(f"invalid status line {status_line[:80]!r}")
        try:
            self.status = int(status_line[9:12])
        except ValueError:
            raise BrokenResponse(f"invalid status line {status_line[:80]!r}") from None
        length: int | None = None
        chunked = False
        headers = self.headers
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise BrokenResponse("invalid header line in response")
            name = name.strip().lower()
            value = value.strip()
            if name in HOP_BY_HOP_B:
                if name == b"content-length":
                    try:
                        length = int(value)
                    except ValueError:
                        raise BrokenResponse("invalid Content-Length in response") from None
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    self.keep_alive = b"close" not in value.lower()
                continue
            headers.append((name, value))
        if status_line.startswith(b"HTTP/1.0"):
            self.keep_alive = False
        if chunked:
            self.state = _CHUNK_SIZE
        elif length is not None:
            if length > self.max_body:
                raise ResponseTooLarge(self.max_body)
            self.remaining = length
            self.state = _LENGTH
            if length == 0:
                self._finish()
        elif self.status in (204, 304) or 100 <= self.status < 200:
            self._finish()
        else:
            self.state = _EOF
            self.keep_alive = False

    def _finish(self) -> None:
        self.state = _DONE
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(CallResult(self.status, self.headers, bytes(self.body)))

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


def bench_parser(
    conn_type: type[HandConn] | type[_Conn], loop: asyncio.AbstractEventLoop, data: bytes, n: int
) -> float:
    conn = conn_type()
    t0 = time.perf_counter()
    for _ in range(n):
        conn._reset()
        waiter: asyncio.Future[CallResult] = loop.create_future()
        conn.waiter = waiter
        conn.data_received(data)
        waiter.result()
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--n", type=int, default=20000)
    args = ap.parse_args()
    loop = asyncio.new_event_loop()
    cases: list[tuple[str, bytes, int]] = [
        ("small (12 B, Content-Length)", response(b'{"ok": true}'), args.n),
        ("1 KiB, Content-Length", response(b"x" * 1024), args.n),
        ("64 KiB, chunked", response(b"x" * 65536, chunked=True), args.n // 10),
        ("1 MiB, Content-Length", response(b"x" * (1 << 20)), max(20, args.n // 500)),
    ]
    print(f"{'response':<30}{'hand-written µs':>17}{'httptools µs':>15}{'ratio':>8}")
    for name, data, n in cases:
        # Both results must agree before their speed means anything.
        results = []
        for conn_type in (HandConn, _Conn):
            conn: Any = conn_type()
            fut: asyncio.Future[CallResult] = loop.create_future()
            conn.waiter = fut
            conn.data_received(data)
            r = fut.result()
            results.append((r.status, r.headers, r.body, conn.keep_alive))
        assert results[0] == results[1], name
        hand, tools = [], []
        for _ in range(args.rounds):  # interleaved, so drift hits both alike
            hand.append(bench_parser(HandConn, loop, data, n))
            tools.append(bench_parser(_Conn, loop, data, n))
        h, t = statistics.median(hand), statistics.median(tools)
        print(f"{name:<30}{h:>17.2f}{t:>15.2f}{t / h:>8.2f}")
    loop.close()


if __name__ == "__main__":
    main()

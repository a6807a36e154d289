"""Calls into a hot container over its unix socket: a lean HTTP/1.1 client.

Every hot call pays for this code, so it is a minimal keep-alive client on an asyncio
``Protocol`` rather than a general-purpose library: measured here, aiohttp's
``UnixConnector`` client (itself 6–7× faster than httpx) spends ~0.2 ms per call in
request/response machinery this client does not have, which was most of hotfn's
per-call overhead. It speaks exactly what the http-stream contract needs: one
``POST /call`` at a time per connection, responses framed by ``Content-Length``,
chunked encoding or connection close, nothing decompressed or rewritten.

Responses are parsed by ``httptools`` (llhttp, C): ``bench/bench_response_parse.py``
measured it faster than the hand-written parser it replaced in every case (medians,
one run, µs per response: 25 vs 47 for a small one, 39 vs 58 for 1 KiB, 27 vs 58
for 64 KiB chunked, 173 vs 1519 for 1 MiB).

Connections are opened once and kept (one per concurrent call the container may
take); a broken or cancelled exchange closes its connection, never reuses it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httptools

from hotfn.agent.httpstream import HOP_BY_HOP_B, CallResult, Headers, RawHeaders
from hotfn.errors import InvalidInput

MAX_HEAD = 64 * 1024  # a larger header block is an invalid response (as in Fn)
_UNLIMITED = 1 << 62


class ConnectFailed(Exception):
    """The socket refused the connection: nothing was sent, the call may be retried
    on another container."""


class BrokenResponse(Exception):
    """The connection broke or the answer was not valid HTTP (after sending)."""


class ResponseTooLarge(BrokenResponse):
    """The response body passed the caller's limit; reading stopped there (the
    connection is closed, so the body is never buffered whole)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"response body over {limit} bytes")
        self.limit = limit


class _Conn(asyncio.Protocol):
    """One connection to the container; parses one response at a time (httptools,
    one parser per connection, reused across keep-alive responses)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.buf = bytearray()  # bytes that arrived while no exchange was waiting
        self.waiter: asyncio.Future[CallResult] | None = None
        self.max_body = _UNLIMITED
        self.parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self.headers: RawHeaders = []
        self.body = bytearray()
        self.head_bytes = 0
        self.head_done = False
        self.length: int | None = None
        self._chunked = False
        self.keep_alive = True

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            self.buf += data
            return
        try:
            self._feed(data)
        except BrokenResponse as exc:
            self._fail(exc)

    def eof_received(self) -> bool | None:
        self._end_of_body()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._end_of_body()
        self._fail(BrokenResponse(f"connection closed by the container ({exc or 'EOF'})"))

    def _end_of_body(self) -> None:
        # A body framed by connection close (no length, not chunked) ends here.
        if self.waiter is not None and self.head_done and self.length is None:
            if not self._chunked:
                self.keep_alive = False
                self._finish()

    # -- parsing (httptools callbacks) -----------------------------------------------

    def _feed(self, data: bytes) -> None:
        if not self.head_done:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD and b"\r\n\r\n" not in data:
                raise BrokenResponse("response header block too large")
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, BrokenResponse):  # raised by a callback here
                raise exc.__context__ from None
            what = "body" if self.head_done else "status line or headers"
            raise BrokenResponse(f"invalid {what} in response: {exc}") from None
        except httptools.HttpParserUpgrade:
            raise BrokenResponse("the container answered with a protocol upgrade") from None

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in HOP_BY_HOP_B:
            if name == b"content-length":
                try:
                    self.length = int(value)
                except ValueError:
                    raise BrokenResponse("invalid Content-Length in response") from None
            elif name == b"transfer-encoding":
                self._chunked = b"chunked" in value.lower()
            return
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.head_done = True
        self.keep_alive = self.parser.should_keep_alive()
        if self._chunked:
            self.length = None
        elif self.length is not None and self.length > self.max_body:
            raise ResponseTooLarge(self.max_body)

    def on_body(self, body: bytes) -> None:
        self.body += body
        if len(self.body) > self.max_body:
            raise ResponseTooLarge(self.max_body)

    def on_message_complete(self) -> None:
        self._finish()

    def _finish(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(
                CallResult(self.parser.get_status_code(), self.headers, bytes(self.body))
            )

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    # -- one exchange -------------------------------------------------------------

    async def exchange(self, head: bytes, body: bytes, max_body: int) -> CallResult:
        assert self.transport is not None
        self._reset()
        self.max_body = max_body
        waiter: asyncio.Future[CallResult] = asyncio.get_running_loop().create_future()
        self.waiter = waiter
        if len(body) < 65536:
            self.transport.write(head + body)  # one write, one syscall
        else:
            self.transport.write(head)
            self.transport.write(body)
        if self.buf:  # unlikely: bytes arrived before we asked
            early = bytes(self.buf)
            self.buf.clear()
            try:
                self._feed(early)
            except BrokenResponse as exc:
                self._fail(exc)
        return await waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class ContainerClient:
    """HTTP/1.1 client bound to one container's ``lsnr.sock``."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = str(socket_path)
        self._idle: list[_Conn] = []
        self._all: set[_Conn] = set()

    async def _connect(self) -> _Conn:
        try:
            _, conn = await asyncio.get_running_loop().create_unix_connection(
                _Conn, self.socket_path
            )
        except OSError as exc:
            raise ConnectFailed(str(exc)) from exc
        self._all.add(conn)
        return conn

    async def call(self, headers: Headers, body: bytes, max_body: int = 0) -> CallResult:
        """``POST /call``; raises ``ConnectFailed`` or ``BrokenResponse`` (its subclass
        ``ResponseTooLarge`` when the body passes ``max_body`` bytes; 0: no limit), or
        ``InvalidInput`` for headers that cannot be sent (nothing was)."""
        idle = self._idle
        conn = None
        while idle:
            conn = idle.pop()
            if not conn.closed:
                break
            self._all.discard(conn)
            conn = None
        if conn is None:
            conn = await self._connect()
        parts = ["POST /call HTTP/1.1\r\nHost: localhost\r\n"]
        for name, value in headers:
            parts.append(f"{name}: {value}\r\n")
        parts.append(f"Content-Length: {len(body)}\r\n\r\n")
        try:
            request = "".join(parts).encode("latin-1")
        except UnicodeEncodeError:
            # The caller's fault, not the container's: nothing was sent, the
            # connection stays usable and the container healthy.
            idle.append(conn)
            raise InvalidInput("a request header is not Latin-1 text") from None
        ok = False
        try:
            result = await conn.exchange(request, body, max_body or _UNLIMITED)
            ok = True
        finally:
            if not ok:
                # Cancelled or broken mid-exchange: the connection's state is unknown.
                conn.close()
                self._all.discard(conn)
        if conn.keep_alive and not conn.closed:
            idle.append(conn)
        else:
            conn.close()
            self._all.discard(conn)
        return result

    async def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._idle.clear()

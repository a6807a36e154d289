"""Calls into a hot container over its unix socket: a lean HTTP/1.1 client.

Every hot call pays for this code, so it is a minimal keep-alive client on an asyncio
``Protocol`` rather than a general-purpose library: measured here, aiohttp's
``UnixConnector`` client (itself 6–7× faster than httpx) spends ~0.2 ms per call in
request/response machinery this client does not have, which was most of hotfn's
per-call overhead. It speaks exactly what the http-stream contract needs: one
``POST /call`` at a time per connection, responses framed by ``Content-Length``,
chunked encoding or connection close, nothing decompressed or rewritten.

Connections are opened once and kept (one per concurrent call the container may
take); a broken or cancelled exchange closes its connection, never reuses it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hotfn.agent.httpstream import HOP_BY_HOP_B, CallResult, Headers, RawHeaders
from hotfn.errors import InvalidInput

MAX_HEAD = 64 * 1024  # a larger header block is an invalid response (as in Fn)
_UNLIMITED = 1 << 62
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _TRAILER, _EOF, _DONE = range(7)


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
    """One connection to the container; parses one response at a time."""

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
            try:
                self._parse()
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

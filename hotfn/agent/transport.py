"""Calls into a hot container over its unix socket: a lean HTTP/1.1 client.

Every hot call pays for this code, so it is a minimal keep-alive client on an asyncio
``Protocol`` rather than a general-purpose library: measured here, aiohttp's
``UnixConnector`` client (itself 6–7× faster than httpx) spends ~0.2 ms per call in
request/response machinery this client does not have, which was most of hotfn's
per-call overhead. It speaks exactly what the http-stream contract needs: one
``POST /call`` at a time per connection, responses framed by ``Content-Length``,
chunked encoding or connection close, nothing decompressed or rewritten.

Bodies stream both ways: a request body the client is still sending is written as
it comes (``rest``), and a response body that did not arrive whole with its head
is handed on as a :class:`~hotfn.body.BodyStream` under flow control (reading
from the container pauses while ``READ_HIGH`` bytes wait for the client).

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
from hotfn.body import BodyStream, Reader
from hotfn.errors import InvalidInput

MAX_HEAD = 64 * 1024  # a larger header block is an invalid response (as in Fn)
# Body bytes held per call before reading from the container pauses (plus at most
# one socket read, 256 KiB): the server's memory per streamed call.
READ_HIGH = 256 * 1024
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
    one parser per connection, reused across keep-alive responses).

    The body is handed on as it arrives: at most ``READ_HIGH`` bytes are held (then
    reading from the socket pauses until the reader takes them), so a large body
    costs a bounded buffer, never its size.
    """

    def __init__(self) -> None:
        # The loop the connection lives on, taken once: asyncio.get_running_loop()
        # costs a getpid() syscall on Python 3.11, and every exchange needs futures.
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.active = False  # an exchange is in progress (until its body is taken)
        self.buf = bytearray()  # bytes that arrived while no exchange was active
        self.max_body = _UNLIMITED
        self.parser = httptools.HttpResponseParser(self)
        self._write_paused = False
        self._write_waiter: asyncio.Future[None] | None = None
        self._reset()

    def _reset(self) -> None:
        self.headers: RawHeaders = []
        self.chunks: list[bytes] = []
        self.held = 0
        self.received = 0
        self.head_bytes = 0
        self.head_done = False
        self.complete = False
        self.error: BaseException | None = None
        self.length: int | None = None
        self._chunked = False
        self.keep_alive = True
        self.read_paused = False
        self.head_waiter: asyncio.Future[None] | None = None
        self.data_waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.active:
            self.buf += data
            return
        if self.error is not None or self.complete:
            return  # past the end of this answer or after a failure: ignored
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
        self.resume_writing()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        _wake(self._write_waiter)

    def _end_of_body(self) -> None:
        # A body framed by connection close (no length, not chunked) ends here.
        if self.active and self.head_done and self.length is None and not self._chunked:
            self.keep_alive = False
            self.on_message_complete()

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
        _wake(self.head_waiter)

    def on_body(self, body: bytes) -> None:
        self.received += len(body)
        if self.received > self.max_body:
            raise ResponseTooLarge(self.max_body)
        self.chunks.append(body)
        self.held += len(body)
        if self.held >= READ_HIGH and not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()
        _wake(self.data_waiter)

    def on_message_complete(self) -> None:
        if self.complete:
            return
        self.complete = True
        _wake(self.head_waiter)
        _wake(self.data_waiter)

    def _fail(self, exc: BaseException) -> None:
        if self.complete or self.error is not None:
            return
        self.error = exc
        _wake(self.head_waiter)
        _wake(self.data_waiter)

    # -- one exchange -------------------------------------------------------------

    async def exchange(
        self, head: bytes, body: bytes, max_body: int, rest: Reader | None, chunked: bool
    ) -> asyncio.Task[None] | None:
        """Send the request (its first part now, ``rest`` from a feeder task) and
        wait for the response head; returns the feeder, if any."""
        transport = self.transport
        assert transport is not None
        self._reset()
        self.active = True
        self.max_body = max_body
        waiter = self.head_waiter = self.loop.create_future()
        if chunked and body:
            body = frame(body)
        if len(body) < 65536:
            transport.write(head + body)  # one write, one syscall
        else:
            transport.write(head)
            transport.write(body)
        feeder = None
        if rest is not None:
            feeder = self.loop.create_task(self._feed_request(rest, chunked))
        if self.buf:  # unlikely: bytes arrived before we asked
            early = bytes(self.buf)
            self.buf.clear()
            self.data_received(early)
        try:
            if not waiter.done():
                await waiter
        except BaseException:
            if feeder is not None:
                feeder.cancel()
            raise
        if self.error is not None:
            if feeder is not None:
                feeder.cancel()
            raise self.error
        return feeder

    async def _feed_request(self, rest: Reader, chunked: bool) -> None:
        """Write the rest of the request body as the client sends it."""
        transport = self.transport
        assert transport is not None
        try:
            while (data := await rest()) is not None:
                if self.closed or self.error is not None:
                    return
                if data:
                    transport.write(frame(data) if chunked else data)
                while self._write_paused and not self.closed:
                    fut = self._write_waiter = self.loop.create_future()
                    await fut
            if chunked and not self.closed:
                transport.write(b"0\r\n\r\n")
        except Exception as exc:  # the client's side failed: over the limit, gone...
            self._fail(exc)

    async def read_body(self) -> bytes | None:
        """The next piece of the body (what has arrived, joined), None at its end."""
        while True:
            chunks = self.chunks
            if chunks:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                self.held = 0
                if self.read_paused and not self.closed and self.transport is not None:
                    self.read_paused = False
                    self.transport.resume_reading()
                return data
            if self.error is not None:
                raise self.error
            if self.complete:
                return None
            fut = self.data_waiter = self.loop.create_future()
            try:
                await fut
            finally:
                self.data_waiter = None

    def close(self) -> None:
        self.closed = True
        self.active = False
        if self.transport is not None:
            self.transport.close()


def _wake(fut: asyncio.Future[None] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)


def frame(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%b\r\n" % (len(data), data)


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

    async def open(
        self,
        headers: Headers,
        body: bytes,
        max_body: int = 0,
        rest: Reader | None = None,
        length: int = -1,
    ) -> CallResult:
        """``POST /call`` and read the response head; raises ``ConnectFailed`` or
        ``BrokenResponse`` (its subclass ``ResponseTooLarge`` when the body passes
        ``max_body`` bytes; 0: no limit), or ``InvalidInput`` for headers that cannot
        be sent (nothing was); an exception ``rest`` raised (the client's side).

        ``body`` is the request body, or its first part when ``rest`` gives the
        others (``length``: the declared total, -1: unknown, sent chunked). A body
        that arrived whole with the head is the result's ``body``; otherwise the
        result has a ``stream``, and the connection is the call's until it is closed.
        """
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
        chunked = rest is not None and length < 0
        if chunked:
            parts.append("Transfer-Encoding: chunked\r\n\r\n")
        else:
            parts.append(f"Content-Length: {len(body) if rest is None else length}\r\n\r\n")
        try:
            request = "".join(parts).encode("latin-1")
        except UnicodeEncodeError:
            # The caller's fault, not the container's: nothing was sent, the
            # connection stays usable and the container healthy.
            idle.append(conn)
            raise InvalidInput("a request header is not Latin-1 text") from None
        try:
            feeder = await conn.exchange(request, body, max_body or _UNLIMITED, rest, chunked)
        except BaseException:
            # Cancelled or broken mid-exchange: the connection's state is unknown.
            self._drop(conn)
            raise
        status = conn.parser.get_status_code()
        if conn.complete and (feeder is None or feeder.done()):
            chunks = conn.chunks
            result = CallResult(
                status, conn.headers, chunks[0] if len(chunks) == 1 else b"".join(chunks)
            )
            self._end(conn, feeder, None)
            return result
        stream = BodyStream(conn.read_body, conn.length)
        stream.on_close(lambda error: self._end(conn, feeder, error))
        return CallResult(status, conn.headers, b"", stream)

    def _end(self, conn: _Conn, feeder: asyncio.Task[None] | None, error: str | None) -> None:
        """The exchange is over: keep the connection for the next call if it ended
        cleanly, else close it."""
        conn.active = False
        if feeder is not None and not feeder.done():
            feeder.cancel()
            error = error or "request body still being sent"
        if error is None and conn.complete and conn.keep_alive and not conn.closed:
            conn.chunks = []
            self._idle.append(conn)
        else:
            self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        conn.close()
        self._all.discard(conn)

    async def call(
        self,
        headers: Headers,
        body: bytes,
        max_body: int = 0,
        rest: Reader | None = None,
        length: int = -1,
    ) -> CallResult:
        """:meth:`open`, with the whole body read (bounded by ``max_body``)."""
        result = await self.open(headers, body, max_body, rest, length)
        stream = result.stream
        if stream is None:
            return result
        parts = []
        error: str | None = "cancelled"
        try:
            while (data := await stream.read()) is not None:
                parts.append(data)
            error = None
        except BaseException as exc:
            error = str(exc) or type(exc).__name__
            raise
        finally:
            stream.close(error)
        return CallResult(result.status, result.headers, b"".join(parts))

    async def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._idle.clear()

"""The hot-contract server shared by the FDK and hotwrap.

It binds the listener the way Fn's agent expects (design.md §2): a *phony* socket
next to ``FN_LISTENER``'s path, ``chmod 0666`` so the agent (another user) can
connect, then a relative symlink ``lsnr.sock -> phonylsnr.sock`` whose appearance
tells the agent the container is ready. It then serves HTTP/1.1 ``POST /call`` with
keep-alive and hands each call to a :data:`CallHandler` as an :class:`Exchange`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import traceback
from typing import TYPE_CHECKING

from hotfn.fdk.http11 import (
    LAST_CHUNK,
    MAX_HEAD_BYTES,
    Body,
    HTTPError,
    RequestHead,
    encode_head,
    frame_chunk,
    read_head,
    write_message,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    Header = tuple[str, str]
    CallHandler = Callable[["Exchange"], Awaitable[None]]
    Hook = Callable[[], Awaitable[None]]

# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107
CALL_PATH = "/call"


class ListenerError(Exception):
    """``FN_LISTENER`` is missing or unusable; the message says what was expected."""


def listener_path(value: str | None) -> str:
    """The socket path in an ``FN_LISTENER`` value (``unix:/tmp/iofs/lsnr.sock``)."""
    example = "expected FN_LISTENER=unix:/tmp/iofs/lsnr.sock, set by the agent"
    if not value:
        raise ListenerError(f"FN_LISTENER is not set: {example}")
    if not value.startswith("unix:"):
        raise ListenerError(f"FN_LISTENER must start with 'unix:', got {value!r}: {example}")
    path = value[len("unix:") :]
    if not path or path.endswith("/"):
        raise ListenerError(f"FN_LISTENER names no socket file: {value!r}: {example}")
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ListenerError(f"FN_LISTENER path is longer than {MAX_SOCKET_PATH} bytes: {path!r}")
    return path


def phony_path(path: str) -> str:
    """Where the real socket is bound: ``phony`` + the listener's file name."""
    directory, name = os.path.split(path)
    return os.path.join(directory, "phony" + name)


class Exchange:
    """One call: its request head and body, and the means to answer it once.

    Answer with :meth:`respond` (known body), or :meth:`start_stream`, :meth:`write`
    and :meth:`end_stream` (chunked), or :meth:`abort` to drop the connection when a
    response already started cannot be completed honestly.
    """

    __slots__ = ("_base", "_writer", "body", "close", "head", "state")

    NEW, STREAMING, DONE, ABORTED = range(4)

    def __init__(
        self,
        head: RequestHead,
        body: Body,
        writer: asyncio.StreamWriter,
        base_headers: Sequence[Header],
    ) -> None:
        self.head = head
        self.body = body
        self._writer = writer
        self._base = base_headers
        self.state = Exchange.NEW
        self.close = not head.keep_alive

    def _head(self, status: int, headers: Sequence[Header], framing: Header) -> bytes:
        if self.state != Exchange.NEW:
            raise RuntimeError("the response was already started")
        closing = [("Connection", "close")] if self.close else []
        return encode_head(status, [*headers, *self._base, framing, *closing])

    async def respond(
        self,
        status: int,
        headers: Sequence[Header],
        body: bytes | bytearray | memoryview = b"",
        *,
        close: bool = False,
    ) -> None:
        """Send a complete response; ``close=True`` ends the connection after it."""
        self.close = self.close or close
        head = self._head(status, headers, ("Content-Length", str(len(body))))
        self.state = Exchange.DONE
        write_message(self._writer, head, body)
        await self._writer.drain()

    async def start_stream(self, status: int, headers: Sequence[Header]) -> None:
        """Send the head of a chunked response; the body follows with :meth:`write`."""
        head = self._head(status, headers, ("Transfer-Encoding", "chunked"))
        self.state = Exchange.STREAMING
        self._writer.write(head)
        await self._writer.drain()

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send one piece of a streamed body (waits while the peer is slow to read)."""
        if data:
            self._writer.write(frame_chunk(data))
            await self._writer.drain()

    async def end_stream(self) -> None:
        """Finish a streamed body."""
        self._writer.write(LAST_CHUNK)
        self.state = Exchange.DONE
        await self._writer.drain()

    def abort(self) -> None:
        """Drop the connection: the peer sees an incomplete response, not a success."""
        self.state = Exchange.ABORTED
        self._writer.transport.abort()


def error_body(message: str) -> bytes:
    """``{"message": ...}``, the error shape of Fn's API, as bytes."""
    return json.dumps({"message": message}).encode()


JSON_TYPE = ("Content-Type", "application/json")


class Server:
    """Serves calls on the hot-contract socket until :meth:`close`."""

    def __init__(self, handler: CallHandler, base_headers: Sequence[Header]) -> None:
        self._handler = handler
        self._base = list(base_headers)
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.path = ""
        frame_name = os.environ.get("FN_LOGFRAME_NAME")
        frame_header = os.environ.get("FN_LOGFRAME_HDR")
        self._log_frame = (frame_name, frame_header) if frame_name and frame_header else None

    async def start(self, path: str) -> None:
        """Bind the phony socket, make it world-writable, then publish the symlink."""
        phony = phony_path(path)
        for stale in (path, phony):
            try:
                os.unlink(stale)
            except FileNotFoundError:
                pass
        self._server = await asyncio.start_unix_server(
            self._on_connection, phony, limit=MAX_HEAD_BYTES
        )
        os.chmod(phony, 0o666)
        # Relative, so it resolves both in the container and on the host side of
        # the bind mount; created last, because its appearance means "ready".
        os.symlink(os.path.basename(phony), path)
        self.path = path

    async def close(self) -> None:
        """Stop accepting, end open connections and remove the socket files."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # Connections first: from Python 3.12 wait_closed() also waits for them.
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections)
        if server is not None:
            await server.wait_closed()
        if self.path:
            for name in (self.path, phony_path(self.path)):
                try:
                    os.unlink(name)
                except FileNotFoundError:
                    pass

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the peer went away; nothing to answer
        except asyncio.CancelledError:
            # close() cancels the connections it ends: end quietly. Python 3.11's
            # streams log a handler task that ends cancelled as "Exception in
            # callback", with a traceback, once per kept-alive connection.
            if self._server is not None:
                raise
        finally:
            self._connections.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, asyncio.CancelledError):
                pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            exchange = None
            try:
                head = await read_head(reader)
                if head is None:
                    return
                exchange = Exchange(head, Body(reader, writer, head), writer, self._base)
                await self._dispatch(exchange)
                if exchange.state != Exchange.DONE or exchange.close:
                    return
                if not exchange.body.done:
                    await exchange.body.drain()
            except HTTPError as exc:
                # Malformed request: say why, then close, since the framing of
                # anything that follows on this connection is unknowable.
                if exchange is None or exchange.state == Exchange.NEW:
                    await self._refuse(writer, exc)
                elif exchange.state == Exchange.STREAMING:
                    exchange.abort()
                return

    async def _refuse(self, writer: asyncio.StreamWriter, exc: HTTPError) -> None:
        body = error_body(exc.message)
        framing = [("Content-Length", str(len(body))), ("Connection", "close")]
        write_message(writer, encode_head(exc.status, [JSON_TYPE, *self._base, *framing]), body)
        await writer.drain()

    async def _dispatch(self, exchange: Exchange) -> None:
        head = exchange.head
        if head.path != CALL_PATH:
            await exchange.body.drain()
            await exchange.respond(404, [JSON_TYPE], error_body(f"no such path {head.path}"))
            return
        if head.method != "POST":
            await exchange.body.drain()
            allow = [("Allow", "POST"), JSON_TYPE]
            await exchange.respond(405, allow, error_body("only POST /call is served"))
            return
        if self._log_frame is not None:
            self._write_log_frame(exchange)
        try:
            await self._handler(exchange)
        except (HTTPError, ConnectionError, asyncio.CancelledError):
            raise
        except Exception:
            # A bug in the handler adapter, not in the function: keep serving.
            traceback.print_exc()
            if exchange.state == Exchange.NEW:
                body = error_body("internal error in the FDK")
                await exchange.respond(502, [JSON_TYPE], body, close=True)
            elif exchange.state == Exchange.STREAMING:
                exchange.abort()

    def _write_log_frame(self, exchange: Exchange) -> None:
        # Fn's log framing: a marker line with the call id on stdout and stderr,
        # so the agent can split a hot container's log into per-call logs.
        assert self._log_frame is not None
        name, header = self._log_frame
        value = exchange.head.headers.get(header)
        if value:
            line = f"\n{name}={value}\n"
            for stream in (sys.stdout, sys.stderr):
                stream.write(line)
                stream.flush()


def run(
    handler: CallHandler,
    base_headers: Sequence[Header],
    *,
    prog: str,
    on_start: Hook | None = None,
    on_stop: Hook | None = None,
) -> None:
    """Serve on ``FN_LISTENER`` until SIGTERM/SIGINT; exit with a message on bad setup."""
    fmt = os.environ.get("FN_FORMAT")
    if fmt not in (None, "", "http-stream"):
        sys.exit(f"{prog}: FN_FORMAT={fmt!r} is not supported; only http-stream is")
    try:
        path = listener_path(os.environ.get("FN_LISTENER"))
        asyncio.run(_serve_until_signal(handler, base_headers, path, on_start, on_stop))
    except (ListenerError, StartupError) as exc:
        sys.exit(f"{prog}: {exc}")


class StartupError(Exception):
    """The server could not start; the message says why."""


async def _serve_until_signal(
    handler: CallHandler,
    base_headers: Sequence[Header],
    path: str,
    on_start: Hook | None,
    on_stop: Hook | None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if on_start is not None:
        try:
            await on_start()
        except OSError as exc:
            raise StartupError(f"cannot start: {exc}") from exc
    server = Server(handler, base_headers)
    try:
        try:
            await server.start(path)
        except OSError as exc:
            raise StartupError(f"cannot listen on {path}: {exc}") from exc
        await stop.wait()
    finally:
        await server.close()
        if on_stop is not None:
            await on_stop()

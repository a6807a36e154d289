"""Call bodies between the client and the function, as streams both ways.

Requests: :func:`read_start` reads the body until it is complete or ``PREFIX_MAX``
bytes have come (a small body, the usual case, is one ASGI message and goes whole);
a larger one is then fed to the container as the client sends it
(:class:`RequestRest`). Only a started body holds a container: a client that stalls
in its first 64 KiB waits without one, so thousands of stalled uploads cost no
container and no slot of other calls. Every wait for the client is bounded by
``Settings.client_idle_timeout``: silence that long is 408 before the call, a cut
call after it.

Responses: :class:`StreamedResponse` relays a :class:`~hotfn.body.BodyStream`
(``Content-Length`` passed on when the function sent one, chunked otherwise). A send
the client does not read for ``client_idle_timeout`` cuts the stream, as does the
client going away, the function's limit or deadline; the response is then ended
without its last chunk (the client sees a truncated body, never a complete-looking
one) and the call record says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from hotfn.agent.httpstream import RawHeaders
from hotfn.api.limits import too_large
from hotfn.body import BodyStream, StreamClosed
from hotfn.config import Settings
from hotfn.errors import ClientGone, HotfnError, PayloadTooLarge, RequestTimeout

log = logging.getLogger("hotfn")

PREFIX_MAX = 64 * 1024  # request bytes read before a container is taken


def _ready(receive: Receive) -> bool:
    """True if ``receive()`` answers without waiting: uvicorn's (httptools) request
    cycle already holds the message. The usual small body came with the head."""
    cycle = getattr(receive, "__self__", None)
    return type(cycle) is RequestResponseCycle and cycle.message_event.is_set()


async def _within(receive: Receive, idle_s: float) -> Message:
    """The next message, or ``RequestTimeout`` if none comes within ``idle_s``."""
    if _ready(receive):
        # No timer when nothing will be waited for: ``asyncio.timeout`` costs a
        # Timeout, a loop timer set and cancelled and three getpid() syscalls
        # (Python 3.11 finds the running loop so), on nearly every call.
        return await receive()
    try:
        async with asyncio.timeout(idle_s):
            return await receive()
    except TimeoutError:
        raise RequestTimeout(
            f"the request body stalled: nothing arrived for {idle_s:g} s "
            "(HOTFN_CLIENT_IDLE_TIMEOUT)"
        ) from None


async def _receive(receive: Receive, idle_s: float) -> Message:
    message = await _within(receive, idle_s)
    if message["type"] != "http.request":
        raise ClientGone("the client went away while sending its body")
    return message


class RequestRest:
    """The rest of a request body, piece by piece (None at its end), counted
    against the limit; raises ``PayloadTooLarge``, ``RequestTimeout`` or
    ``ClientGone``."""

    __slots__ = ("_idle_s", "_limit", "_receive", "done", "size")

    def __init__(self, receive: Receive, size: int, limit: int, idle_s: float) -> None:
        self._receive = receive
        self.size = size
        self._limit = limit
        self._idle_s = idle_s
        self.done = False

    async def __call__(self) -> bytes | None:
        if self.done:
            return None
        message = await _receive(self._receive, self._idle_s)
        chunk: bytes = message.get("body", b"")
        self.size += len(chunk)
        if self.size > self._limit:
            raise too_large(f"more than {self._limit}", self._limit)
        if not message.get("more_body", False):
            self.done = True
        return chunk

    async def read_all(self) -> bytes:
        parts = []
        while (chunk := await self()) is not None:
            parts.append(chunk)
        return b"".join(parts)


async def read_start(
    receive: Receive, declared: int, limit: int, idle_s: float
) -> tuple[bytes, RequestRest | None]:
    """The request body, or its first part and the rest to come.

    ``declared`` is the Content-Length (-1 if chunked): over ``limit`` it is 413
    before anything is read.
    """
    if declared > limit:
        raise too_large(str(declared), limit)
    message = await _receive(receive, idle_s)
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the usual case: one message
        if len(body) > limit:
            raise too_large(str(len(body)), limit)
        return body, None
    chunks = [body]
    size = len(body)
    while size < PREFIX_MAX:
        message = await _receive(receive, idle_s)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(f"more than {limit}", limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), None
    return b"".join(chunks), RequestRest(receive, size, limit, idle_s)


async def read_whole(receive: Receive, declared: int, limit: int, idle_s: float) -> bytes:
    """The whole request body, bounded like :func:`read_start`'s."""
    body, rest = await read_start(receive, declared, limit, idle_s)
    return body if rest is None else body + await rest.read_all()


async def read_detached_body(
    receive: Receive, declared: int, limit: int, idle_s: float, settings: Settings
) -> bytes:
    """A detached call's body, read whole: it is stored until the call runs, so it is
    bounded by ``Settings.max_detached_body`` too (256 KiB, what Lambda allows for
    async events)."""
    cap = settings.max_detached_body
    if limit <= cap:
        return await read_whole(receive, declared, limit, idle_s)
    try:
        return await read_whole(receive, declared, cap, idle_s)
    except PayloadTooLarge:
        raise PayloadTooLarge(
            f"a detached call's body is at most {cap} bytes (HOTFN_MAX_DETACHED_BODY): it "
            "is stored until the call runs; send a larger one as a sync call"
        ) from None


class StreamedResponse(Response):
    """An ASGI response relaying a function's streamed body (see the module doc).

    ``first`` is the first piece, read before the head is sent so that a failure
    before any byte is still a clean error response. ``request`` is the request
    body's rest, if it was streamed: while it is not done, the client's going away
    is noticed by its reader instead of a watcher here.
    """

    def __init__(
        self,
        status: int,
        headers: RawHeaders,
        stream: BodyStream,
        first: bytes,
        idle_s: float,
        request: RequestRest | None = None,
    ) -> None:
        self.status_code = status
        self.background = None
        self.raw_headers = headers
        self.stream = stream
        self.first = first
        self.idle_s = idle_s
        self.request = request

    async def _send(self, send: Send, data: bytes, more: bool) -> None:
        try:
            async with asyncio.timeout(self.idle_s):
                await send({"type": "http.response.body", "body": data, "more_body": more})
        except TimeoutError:
            raise _Stalled() from None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self.stream
        headers = self.raw_headers
        if stream.length is not None:
            headers.append((b"content-length", str(stream.length).encode()))
        watcher: asyncio.Task[None] | None = None
        if self.request is None or self.request.done:
            watcher = asyncio.ensure_future(_watch_disconnect(receive, stream))
        sent = 0
        reason: str | None = "the relay was interrupted"
        try:
            start = {"type": "http.response.start", "status": self.status_code, "headers": headers}
            await send(start)
            data: bytes | None = self.first
            while data is not None:
                if data:
                    await self._send(send, data, True)
                    sent += len(data)
                data = await stream.read()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            reason = None
        except HotfnError as exc:
            reason = f"{exc.message} (after {sent} bytes were sent)"
        except StreamClosed as exc:
            reason = str(exc)
        except _Stalled:
            reason = (
                f"the client read nothing for {self.idle_s:g} s (HOTFN_CLIENT_IDLE_TIMEOUT), "
                f"after {sent} bytes"
            )
        except OSError as exc:
            reason = f"the client connection failed after {sent} bytes: {exc}"
        finally:
            if watcher is not None:
                watcher.cancel()
            stream.close(reason)
        if reason is not None:
            log.info("streamed response cut: %s", reason)


class _Stalled(Exception):
    pass


async def _watch_disconnect(receive: Receive, stream: BodyStream) -> None:
    """Close the stream when the client goes away (the ASGI server's ``send`` then
    silently drops what is sent, so the relay would read on to the end)."""
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                stream.close("the client went away")
                return

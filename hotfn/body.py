"""Bodies that arrive in pieces: a function's streamed response, a client's request.

A small answer arrives whole with its head and is passed on as ``bytes`` (the fast
path, no stream at all). A larger or slower one is a :class:`BodyStream`: the
endpoint relays it piece by piece while the call still holds its container, and
every layer that must act when the relay ends (the transport gives its connection
back, the container judges its health, the lease gives the slot back, the agent
writes the call record) registers a closer. :meth:`BodyStream.close` runs them once,
with the reason the relay stopped early (None: it reached the end).

:class:`Pipe` is the bounded buffer between a producer task (a default-format
container's stdout) and the relay: ``put`` waits while it holds ``high`` bytes, so
server memory per call stays bounded whatever the body size.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

Closer = Callable[[str | None], None]
Reader = Callable[[], Awaitable[bytes | None]]


class StreamClosed(Exception):
    """Read after :meth:`BodyStream.close` (the client went away meanwhile)."""


class BodyStream:
    """A response body read piece by piece with :meth:`read`, then closed.

    ``length`` is the byte count the function declared (``Content-Length``), None
    when it did not (the relay then sends it chunked).
    """

    __slots__ = ("_closers", "_read", "closed", "error", "length")

    def __init__(self, read: Reader, length: int | None = None) -> None:
        self._read = read
        self.length = length
        self._closers: list[Closer] = []
        self.closed = False
        self.error: str | None = None  # why it was closed early, if it was

    async def read(self) -> bytes | None:
        """The next piece (never empty), or None at the end. Raises the
        ``HotfnError`` that cut the body (limit, deadline, broken container)."""
        if self.closed:
            raise StreamClosed(self.error or "closed")
        return await self._read()

    def on_close(self, closer: Closer) -> None:
        """Run ``closer(reason)`` when the stream is closed (last added runs last)."""
        self._closers.append(closer)

    def close(self, error: str | None = None) -> None:
        """The relay is done: ``error`` says why it stopped early (None: at the end).
        Idempotent; a failing closer does not stop the others."""
        if self.closed:
            return
        self.closed = True
        self.error = error
        for closer in self._closers:
            try:
                closer(error)
            except Exception:  # pragma: no cover - a closer's bug must not leak a lease
                import logging

                logging.getLogger("hotfn").exception("closing a body stream failed")

    async def drain(self) -> None:
        """Read to the end and discard (a detached call's answer); closes."""
        reason: str | None = None
        try:
            while await self.read() is not None:
                pass
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            raise
        finally:
            self.close(reason)


class Pipe:
    """A bounded byte buffer from one producer task to one reader.

    ``put`` waits while ``high`` bytes are held; ``get`` waits for bytes, the end
    (:meth:`end`) or an error (:meth:`fail`). ``total`` counts every byte put.
    """

    __slots__ = (
        "_chunks",
        "_ended",
        "_error",
        "_get_waiter",
        "_put_waiter",
        "first",
        "held",
        "high",
        "total",
    )  # fmt: skip

    def __init__(self, high: int = 256 * 1024) -> None:
        self.high = high
        self._chunks: deque[bytes] = deque()
        self.held = 0
        self.total = 0
        self._ended = False
        self._error: BaseException | None = None
        self._get_waiter: asyncio.Future[None] | None = None
        self._put_waiter: asyncio.Future[None] | None = None
        # Set at the first byte: the reader may decide when to commit to an answer.
        self.first = asyncio.Event()

    @staticmethod
    def _wake(fut: asyncio.Future[None] | None) -> None:
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def put(self, data: bytes) -> None:
        if not data or self._ended:
            return
        self._chunks.append(data)
        self.held += len(data)
        self.total += len(data)
        self.first.set()
        self._wake(self._get_waiter)
        while self.held >= self.high and not self._ended:
            fut = self._put_waiter = asyncio.get_running_loop().create_future()
            await fut

    def end(self) -> None:
        """No more bytes will come."""
        self._ended = True
        self._wake(self._get_waiter)
        self._wake(self._put_waiter)

    def fail(self, exc: BaseException) -> None:
        """Bytes after those held will not come because of ``exc`` (``get`` raises it)."""
        if self._error is None:
            self._error = exc
        self.end()

    @property
    def ended(self) -> bool:
        return self._ended

    def take_all(self) -> bytes:
        """Everything held now (the whole body, once ended without error)."""
        data = b"".join(self._chunks)
        self._chunks.clear()
        self.held = 0
        self._wake(self._put_waiter)
        return data

    async def get(self) -> bytes | None:
        while True:
            if self._chunks:
                data = self._chunks.popleft()
                self.held -= len(data)
                if self.held < self.high:
                    self._wake(self._put_waiter)
                return data
            if self._error is not None:
                raise self._error
            if self._ended:
                return None
            fut = self._get_waiter = asyncio.get_running_loop().create_future()
            try:
                await fut
            finally:
                self._get_waiter = None

"""First come, first served hand-over: callers wait in a queue, each for one thing.

The memory budget hands reservations to callers waiting for memory, the default-format
runner hands run slots to calls waiting for one, and a hot pool hands container slots
to waiting calls. All three need the same care: a waiter that gives up (cancelled,
timed out) just as it was served must give the thing back, or it leaks; one that
gives up unserved must leave the queue. That care lives here, once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Waiters(Generic[T]):
    """A FIFO queue of waiting callers; each waiter has a ``size`` (what it needs,
    e.g. MB of memory; 1 when all needs are equal)."""

    __slots__ = ("_queue",)

    def __init__(self) -> None:
        self._queue: deque[tuple[asyncio.Future[T], int]] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def __bool__(self) -> bool:
        return bool(self._queue)

    def live(self) -> int:
        """Waiters still waiting (not yet served, failed or gone)."""
        return sum(1 for fut, _ in self._queue if not fut.done())

    def enqueue(
        self, size: int = 1, loop: asyncio.AbstractEventLoop | None = None
    ) -> asyncio.Future[T]:
        """Join the queue; await the future with :meth:`wait`. ``loop``: the running
        loop, if the caller has it (finding it costs a syscall on Python 3.11)."""
        fut: asyncio.Future[T] = (loop or asyncio.get_running_loop()).create_future()
        self._queue.append((fut, size))
        return fut

    async def wait(self, fut: asyncio.Future[T], give_back: Callable[[T], None]) -> T:
        """What ``fut`` is handed. If the wait ends otherwise (cancelled, timed out,
        failed), the waiter leaves the queue, and a thing handed over at that very
        moment goes back through ``give_back``."""
        try:
            return await fut
        except BaseException:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                give_back(fut.result())
            else:
                fut.cancel()
                self._remove(fut)
            raise

    def first_size(self) -> int | None:
        """The size of the first live waiter (dropping finished ones), or None."""
        queue = self._queue
        while queue:
            fut, size = queue[0]
            if not fut.done():
                return size
            queue.popleft()
        return None

    def hand_over(self, value: T) -> bool:
        """Give ``value`` to the first live waiter; False if nobody waits."""
        queue = self._queue
        while queue:
            fut, _ = queue.popleft()
            if not fut.done():
                fut.set_result(value)
                return True
        return False

    def fail_all(self, exc: BaseException) -> None:
        """End every wait with ``exc``."""
        queue = self._queue
        while queue:
            fut, _ = queue.popleft()
            if not fut.done():
                fut.set_exception(exc)

    def _remove(self, fut: asyncio.Future[T]) -> None:
        for i, (f, _) in enumerate(self._queue):
            if f is fut:
                del self._queue[i]
                return

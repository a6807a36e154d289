"""One sweeper for the deadlines of every hot call in flight, instead of a timer each.

``asyncio.timeout`` per call makes a ``Timeout`` object, two coroutine steps for its
``async with``, a ``TimerHandle`` pushed onto the loop's heap and cancelled again: on
the hot path that is paid by every call, while almost no call ever times out. Here a
call costs one set insertion and one removal; a single loop timer runs every
``tick_s`` while any call is in flight, and cancels the tasks whose deadline has
passed. A deadline therefore fires up to ``tick_s`` late (50 ms against fn timeouts
of whole seconds).

Usage (inside the task that makes the call)::

    deadline = sweeper.start(seconds)
    try:
        await ...
    except asyncio.CancelledError:
        if sweeper.end(deadline):
            raise FunctionTimeout() from None  # the cancellation was ours
        raise
    finally:
        sweeper.end(deadline)
"""

from __future__ import annotations

import asyncio

TICK_S = 0.05


class Deadline:
    """One call's deadline (loop time) and the task it cancels when passed."""

    __slots__ = ("at", "expired", "task")

    def __init__(self, at: float, task: asyncio.Task[object] | None) -> None:
        self.at = at
        self.task = task
        self.expired = False


class DeadlineSweeper:
    """The deadlines of the calls of one agent (see the module docstring)."""

    def __init__(self, tick_s: float = TICK_S) -> None:
        self.tick_s = tick_s
        self._live: set[Deadline] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the one the timer is on

    def __len__(self) -> int:
        return len(self._live)

    def start(self, seconds: float) -> Deadline:
        """Cancel the current task ``seconds`` from now unless :meth:`end` comes first."""
        return self.start_at(asyncio.get_running_loop().time() + seconds)

    def start_at(self, when: float, loop: asyncio.AbstractEventLoop | None = None) -> Deadline:
        """Cancel the current task at loop time ``when`` unless :meth:`end` comes first.

        ``loop``: the running loop, if the caller has it (on Python 3.11 finding it
        costs a ``getpid()`` syscall, twice here: for the loop and the current task).
        """
        if loop is None:
            loop = asyncio.get_running_loop()
        entry = Deadline(when, asyncio.current_task(loop))
        self._live.add(entry)
        if self._timer is None:
            self._loop = loop
            self._timer = loop.call_later(self.tick_s, self._sweep)
        return entry

    def end(self, entry: Deadline) -> bool:
        """Stop watching ``entry`` (idempotent); True if it expired, i.e. the task's
        cancellation came from here (it is withdrawn from the task's count once, as
        ``asyncio.timeout`` does, so an outer scope sees no stray cancel request)."""
        self._live.discard(entry)
        task, entry.task = entry.task, None
        if entry.expired and task is not None:
            task.uncancel()
        return entry.expired

    def _sweep(self) -> None:
        self._timer = None
        live = self._live
        if not live:
            return
        loop = self._loop
        assert loop is not None  # set with the timer that called this
        now = loop.time()
        passed = [entry for entry in live if entry.at <= now]
        for entry in passed:
            live.discard(entry)
            if entry.task is not None and not entry.task.done():
                entry.expired = True
                entry.task.cancel()
        if live:
            self._timer = loop.call_later(self.tick_s, self._sweep)

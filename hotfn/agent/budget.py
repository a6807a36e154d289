"""The server-wide memory budget for function containers.

Every container reserves its fn's memory while it exists. The budget only counts:
when a reservation does not fit it says so (:meth:`MemoryBudget.shortfall`), and
freeing memory is the agent's business (it evicts idle containers of other
functions, then retries). Callers that cannot wait for a container's memory
otherwise queue here (:meth:`MemoryBudget.wait`), first come first served.

While memory is being freed for one requester the budget is *held*: memory released
then is not handed to queued callers or announced to listeners until the requester
has had its turn, so memory freed for one pool is never taken by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator

from hotfn.agent.handover import Waiters
from hotfn.errors import TooBusy


def machine_memory_mb() -> int:
    """Total memory of this machine in MB (from /proc/meminfo, else sysconf)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError):
        return 4096


class MemoryBudget:
    """Reservations of container memory against ``total_mb``."""

    def __init__(self, total_mb: int) -> None:
        self.total_mb = total_mb
        self.used_mb = 0
        self._waiters: Waiters[None] = Waiters()
        # Called (without arguments) whenever memory is released: hot pools that
        # could not start a container register here to re-evaluate.
        self._listeners: set[Callable[[], None]] = set()
        self._held = 0

    @property
    def free_mb(self) -> int:
        return self.total_mb - self.used_mb

    @property
    def queued(self) -> int:
        """Callers waiting for memory."""
        return len(self._waiters)

    def check_fits(self, mb: int) -> None:
        """Raise ``TooBusy`` if ``mb`` could never fit, however much is freed."""
        if mb > self.total_mb:
            raise TooBusy(
                f"function memory {mb} MB exceeds the server's memory budget of "
                f"{self.total_mb} MB (HOTFN_MEMORY_BUDGET_MB)",
                retry_after=60,
            )

    def shortfall(self, mb: int) -> int:
        """MB that must be freed before ``mb`` fits now (0: it fits)."""
        return max(0, self.used_mb + mb - self.total_mb)

    def try_reserve(self, mb: int) -> bool:
        """Reserve ``mb`` now if it fits and nobody queued for memory is ahead."""
        if self.used_mb + mb <= self.total_mb and not self._waiters:
            self.used_mb += mb
            return True
        return False

    async def wait(self, mb: int, wait_s: float) -> None:
        """Queue for ``mb`` until released memory is handed over; ``TooBusy`` after
        ``wait_s`` seconds."""
        self.check_fits(mb)
        fut = self._waiters.enqueue(mb)
        try:
            async with asyncio.timeout(wait_s):
                await self._waiters.wait(fut, lambda _: self.release(mb))
        except TimeoutError:
            raise TooBusy("no memory free for another container; retry later") from None

    def release(self, mb: int) -> None:
        self.used_mb = max(0, self.used_mb - mb)
        if not self._held:
            self._settle()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Memory released inside stays unclaimed until the block ends (see above)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held:
                self._settle()

    def _settle(self) -> None:
        waiters = self._waiters
        while (need := waiters.first_size()) is not None and self.used_mb + need <= self.total_mb:
            self.used_mb += need
            waiters.hand_over(None)
        for listener in list(self._listeners):
            listener()

    def listen(self, callback: Callable[[], None]) -> None:
        self._listeners.add(callback)

    def unlisten(self, callback: Callable[[], None]) -> None:
        self._listeners.discard(callback)

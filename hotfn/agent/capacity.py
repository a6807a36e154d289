"""The server-wide memory budget for function containers.

Every container reserves its fn's memory while it exists. When a reservation does not
fit, the agent first evicts idle hot containers of *other* functions (least recently
used first); if that is not enough the caller waits for memory to be released (cold
runs) or the pool waits to be poked (hot starts), bounded by the queue wait.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Callable

from hotfn.errors import TooBusy

log = logging.getLogger(__name__)

# Frees memory for a requester by retiring idle containers of others; returns the MB
# released. Synchronous: retiring marks containers gone and releases their memory at
# once (the engine removes them in the background).
Evictor = Callable[[int, object | None], int]


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
        self.evictor: Evictor | None = None
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        # Called (without arguments) whenever memory is released: hot pools that
        # could not start a container register here to re-evaluate.
        self._listeners: set[Callable[[], None]] = set()

    @property
    def free_mb(self) -> int:
        return self.total_mb - self.used_mb

    def check_fits(self, mb: int) -> None:
        if mb > self.total_mb:
            raise TooBusy(
                f"function memory {mb} MB exceeds the server's memory budget of "
                f"{self.total_mb} MB (HOTFN_MEMORY_BUDGET_MB)",
                retry_after=60,
            )

    def try_reserve(self, mb: int, requester: object | None = None, evict: bool = True) -> bool:
        """Reserve ``mb`` now if it fits, evicting others' idle containers if needed
        (not with ``evict=False``: warm generic containers only take free memory)."""
        if evict and self.used_mb + mb > self.total_mb and self.evictor is not None:
            self.evictor(self.used_mb + mb - self.total_mb, requester)
        if self.used_mb + mb <= self.total_mb and not self._waiters:
            self.used_mb += mb
            return True
        return False

    async def reserve(self, mb: int, requester: object | None, wait_s: float) -> None:
        """Reserve ``mb``, waiting up to ``wait_s`` seconds for memory to be freed."""
        self.check_fits(mb)
        if self.try_reserve(mb, requester):
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (mb, fut)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(wait_s):
                await fut
        except BaseException as exc:
            if fut.done() and not fut.cancelled():
                self.release(mb)  # granted just as we gave up: hand it back
            else:
                fut.cancel()
                if entry in self._waiters:
                    self._waiters.remove(entry)
            if isinstance(exc, TimeoutError):
                raise TooBusy("no memory free for another container; retry later") from None
            raise

    def release(self, mb: int) -> None:
        self.used_mb = max(0, self.used_mb - mb)
        while self._waiters and self.used_mb + self._waiters[0][0] <= self.total_mb:
            need, fut = self._waiters.popleft()
            if not fut.done():
                self.used_mb += need
                fut.set_result(None)
        for listener in list(self._listeners):
            listener()

    def listen(self, callback: Callable[[], None]) -> None:
        self._listeners.add(callback)

    def unlisten(self, callback: Callable[[], None]) -> None:
        self._listeners.discard(callback)

"""The agent's hot pools: the current pool of each fn, old configurations still
draining, and what is done to all of them (eviction, housekeeping, shutdown, gauges).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence

from hotfn.agent.metrics import FnMetrics
from hotfn.agent.pool import HotPool
from hotfn.agent.shared import AgentContext, log
from hotfn.agent.starts import StartStrategy
from hotfn.agent.tending import tend
from hotfn.types import Target

_FORGET_EMPTY_S = 300  # an empty pool unused this long is dropped


class PoolTable:
    """Hot pools by fn id (one per configuration; a changed one drains)."""

    def __init__(self, ctx: AgentContext, starts: Sequence[StartStrategy]) -> None:
        self.ctx = ctx
        self.starts = starts
        self._pools: dict[str, HotPool] = {}  # fn id → current pool
        self._draining: set[HotPool] = set()  # old configurations still finishing

    def get(self, target: Target, metrics: FnMetrics | None = None) -> HotPool:
        """The pool for ``target``'s configuration (made, or replacing an old one)."""
        pool = self._pools.get(target.fn.id)
        # The cache hands out the same Target until the fn changes: identity is the
        # cheap check (Target.key hashes the whole configuration).
        if pool is not None and (pool.target is target or pool.key == target.key):
            if pool.target is not target:
                pool.target = target  # same configuration, newer object
            return pool
        if pool is not None:
            # The configuration changed: the old pool finishes its queue and goes.
            self._retire(pool)
        pool = self._pools[target.fn.id] = HotPool(target, self.ctx, self.starts, metrics)
        return pool

    def drop(self, fn_id: str) -> None:
        """The fn changed or went: its pool drains; the next call makes a new one."""
        pool = self._pools.pop(fn_id, None)
        if pool is not None:
            self._retire(pool)

    def _retire(self, pool: HotPool) -> None:
        pool.drain()
        if not pool.empty:
            self._draining.add(pool)

    async def prewarm(
        self, target: Target, count: int, wait_s: float, metrics: FnMetrics | None
    ) -> int:
        """Start containers of ``target`` until ``count`` exist; how many are ready
        within ``wait_s``."""
        pool = self.get(target, metrics)
        count = max(1, min(count, pool.max_containers))
        while len(pool.containers) < count and pool.start_ahead("prewarmed"):
            pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            ready = pool.fleet.ready_count()
            if ready >= count or (not pool.starting and ready < count):
                return ready
            await asyncio.sleep(0.01)
        return pool.fleet.ready_count()

    def all(self) -> list[HotPool]:
        return [*self._pools.values(), *self._draining]

    def evict(self, needed_mb: int, requester: object | None) -> int:
        """Retire idle containers of pools other than ``requester``, least recently
        used first, until ``needed_mb`` is freed; returns the MB freed."""
        candidates = [
            (c, pool)
            for pool in self.all()
            if pool.fleet is not requester
            for c in pool.free
            if c.inflight == 0 and c.state == "idle"
        ]
        candidates.sort(key=lambda item: item[0].last_used)
        freed = 0
        for c, pool in candidates:
            if freed >= needed_mb:
                break
            freed += c.memory_mb
            log.info("evicting idle container %s to free memory", c.name)
            pool.retire(c)
        return freed

    def housekeeping(self, now: float) -> None:
        """Retire containers past their keep-alive; forget empty pools."""
        for fn_id, pool in list(self._pools.items()):
            tend(pool, now)
            if pool.empty and now - pool.last_used > _FORGET_EMPTY_S:
                del self._pools[fn_id]
        for pool in list(self._draining):
            if pool.empty:
                self._draining.discard(pool)

    def close(self) -> None:
        """Drain every pool and retire every container (shutdown)."""
        for pool in self.all():
            pool.drain()
            for c in list(pool.containers):
                pool.retire(c)
        self._pools.clear()
        self._draining.clear()

    def container_counts(self) -> Iterator[tuple[str, str, int]]:
        for pool in self.all():
            for state, count in pool.fleet.counts().items():
                yield pool.target.fn.id, state, count

    def queue_depths(self) -> Iterator[tuple[str, int]]:
        for pool in self.all():
            yield pool.target.fn.id, len(pool.waiters)

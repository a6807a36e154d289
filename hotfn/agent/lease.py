"""One call's hold on a hot container: ``async with pool.lease(record) as container``.

Entering takes a container of the pool (at once, or after a FIFO wait) and writes the
queue and start facts into the call's record; leaving writes the run time, feeds the
pool's growth estimate, and gives the slot back, retiring the container first if the
call left it unhealthy. A call whose answer streams leaves by :meth:`Lease.end` once the
body has been relayed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING

from hotfn.types import CallRecord

if TYPE_CHECKING:  # the pool makes leases; a lease only calls back into it
    from hotfn.agent.container import HotContainer
    from hotfn.agent.pool import HotPool


class Lease:
    """One call's hold on a container of a pool (see :meth:`HotPool.lease`)."""

    __slots__ = ("_c", "_first", "_pool", "_record", "_t1")

    def __init__(self, pool: HotPool, record: CallRecord, first: bool) -> None:
        self._pool = pool
        self._record = record
        self._first = first
        self._t1 = 0.0

    async def __aenter__(self) -> HotContainer:
        pool, record = self._pool, self._record
        t0 = time.perf_counter()
        c = pool.try_acquire() or await pool.acquire()
        self._c = c
        self._t1 = t1 = time.perf_counter()
        if self._first:
            record.queued_ms = (t1 - t0) * 1000
            pool.metrics.queue.observe(t1 - t0)
        if c.calls == 0 and c.inflight == 1:
            # image / specialised: the call waited for this start; provisioned /
            # prewarmed: started ahead of it (start_ms says what that took).
            record.start_ms = c.start_ms
            record.start_path = c.start_path
        else:
            record.start_path = "hot"
        record.container_id = c.id
        record.started_at = datetime.now(UTC)
        return c

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end()

    def end(self) -> None:
        """Give the container back (a streamed answer's lease ends when its body
        has been relayed, not when the call returns)."""
        pool, c = self._pool, self._c
        run = time.perf_counter() - self._t1
        self._record.run_ms = run * 1000
        pool.metrics.run.observe(run)
        pool.growth.ran(run)
        if not c.healthy:
            pool.retire(c)
        pool.release(c)

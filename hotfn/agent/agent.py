"""The agent: decides where each call runs and owns container lifecycles.

``Agent.call`` is the hot path: find the fn's pool (one dict lookup, one key
comparison), take an idle container, forward the call over its kept-alive socket,
queue the call record for a batched write. Nothing on that path touches the
database, spawns a task or allocates more than a few small objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from hotfn.agent import iofs
from hotfn.agent.budget import MemoryBudget, machine_memory_mb
from hotfn.agent.call_log import CallLog, utcnow
from hotfn.agent.default_format import DefaultFormatRunner
from hotfn.agent.generic_pools import GenericPools
from hotfn.agent.httpstream import CallRequest, CallResult
from hotfn.agent.keepalive import AdaptiveKeepAlive, KeepAlivePolicy
from hotfn.agent.lease import Lease
from hotfn.agent.metrics import COLLECTOR, FnMetrics
from hotfn.agent.pool import HotPool
from hotfn.agent.pool_table import PoolTable
from hotfn.agent.provisioner import Provisioner
from hotfn.agent.shared import AgentContext, iofs_base, log
from hotfn.agent.starts import ImageStart, SpecialiseStart, StartStrategy
from hotfn.agent.transport import ConnectFailed
from hotfn.config import Settings
from hotfn.drivers.base import LABEL_INSTANCE, LABEL_MANAGED, Driver
from hotfn.errors import (
    FunctionTimeout,
    HotfnError,
    InvalidFunctionResponse,
    ShuttingDown,
)
from hotfn.store.call_records import CallStore
from hotfn.types import CallRecord, Target

if TYPE_CHECKING:
    pass

_TICK_S = 0.5  # housekeeping interval (idle timeouts, empty pools)
_CONNECT_RETRIES = 2  # a dead idle container costs a retry, not a failed call


class Agent:
    """Runs calls of functions in containers.

    ``driver`` talks to the engine, ``calls`` keeps call records and logs. Call
    :meth:`start` once the event loop runs and :meth:`shutdown` at the end.
    """

    def __init__(
        self,
        driver: Driver,
        settings: Settings,
        calls: CallStore,
        keepalive: KeepAlivePolicy | None = None,
        tick_s: float = _TICK_S,
    ) -> None:
        self.settings = settings
        self.driver = driver
        self.calls = calls
        self.budget = MemoryBudget(settings.memory_budget_mb or machine_memory_mb() * 8 // 10)
        self.ctx = AgentContext(
            driver,
            settings,
            self.budget,
            iofs_base(settings),
            self._reserve,
            keepalive or AdaptiveKeepAlive(default_mode=settings.keepalive_policy),
        )
        # Warm generic runtime containers, if configured: the first way to start.
        self.generic = GenericPools(self.ctx) if settings.generic_pool_size > 0 else None
        image = ImageStart(self.ctx)
        self._starts: tuple[StartStrategy, ...] = (
            (SpecialiseStart(self.ctx, self.generic), image) if self.generic else (image,)
        )
        self.default_format = DefaultFormatRunner(self.ctx)
        self._pools = PoolTable(self.ctx, self._starts)
        self._metrics: dict[str, FnMetrics] = {}
        self.provisioner = Provisioner(
            self.ctx, self._pools, self.generic, lambda: self._accepting, self._metrics.get
        )
        self._accepting = False
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tick_s = tick_s
        self._ticker: asyncio.Task[None] | None = None
        COLLECTOR.add(self)

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        """Remove leftovers of this instance's earlier runs and start housekeeping.

        Never fails because the engine is down: that is logged, calls will then get
        503 until it is back.
        """
        await asyncio.to_thread(_reset_dir, self.ctx.iofs_base)
        try:
            removed = await self.driver.remove_labelled(self._instance_labels())
            if removed:
                log.info("removed %d leftover containers of instance %s", removed, self._iname)
        except HotfnError as exc:
            log.warning("could not clean up leftover containers: %s", exc.message)
        if self.generic is not None:
            await self.generic.start()
        self._accepting = True
        self._ticker = asyncio.create_task(self._tick_loop())

    async def shutdown(self) -> None:
        """Stop accepting calls, drain in-flight ones (bounded), remove containers."""
        self._accepting = False
        if self._inflight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.settings.drain_timeout)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self._pools.close()
        if self.generic is not None:
            await self.generic.shutdown()
        # Container removals (and anything else) in flight finish before we sweep.
        while self.ctx.tasks:
            await asyncio.gather(*list(self.ctx.tasks), return_exceptions=True)
        try:
            await self.driver.remove_labelled(self._instance_labels())
        except HotfnError as exc:
            log.warning("could not remove containers at shutdown: %s", exc.message)
        await asyncio.to_thread(_reset_dir, self.ctx.iofs_base, False)
        COLLECTOR.discard(self)

    @property
    def _iname(self) -> str:
        return self.settings.instance

    def _instance_labels(self) -> dict[str, str]:
        return {LABEL_MANAGED: "1", LABEL_INSTANCE: self._iname}

    # -- calls ------------------------------------------------------------------

    async def call(
        self, target: Target, req: CallRequest, record: CallRecord | None = None
    ) -> CallResult:
        """Run one call; raises ``HotfnError`` subclasses (mapped to HTTP by the API)."""
        if not self._accepting:
            raise ShuttingDown()
        fn = target.fn
        metrics = self._metrics.get(fn.id)
        if metrics is None:
            metrics = self._metrics[fn.id] = FnMetrics(fn.id)
        if record is None:
            record = CallRecord(req.call_id, fn.id, target.app.id, "running", utcnow())
            self.calls.running(record)
        else:
            record.status = "running"
        call_log = CallLog(self.settings.call_log_max_bytes)
        self._inflight += 1
        self._idle.clear()
        status = 500
        streaming = False
        try:
            if fn.format == "default":
                result = await self.default_format.run(target, req, record, call_log, metrics)
            else:
                result = await self._call_hot(target, req, record, call_log)
            status = 200
            record.status = "success"
            if result.stream is not None:
                # The call lasts until its body has been relayed (or cut).
                streaming = True
                result.stream.on_close(
                    lambda error: self._call_ended(record, 200, call_log, metrics, error)
                )
            return result
        except HotfnError as exc:
            status = exc.status
            record.status = "timeout" if isinstance(exc, FunctionTimeout) else "error"
            record.error = exc.message
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away (nginx's convention)
            record.status = "cancelled"
            raise
        finally:
            if not streaming:
                self._call_ended(record, status, call_log, metrics, None)

    def _call_ended(
        self,
        record: CallRecord,
        status: int,
        call_log: CallLog,
        metrics: FnMetrics,
        cut: str | None,
    ) -> None:
        if cut is not None:  # a streamed answer stopped early: the record says why
            record.status = "error"
            record.error = f"response cut: {cut}"
        record.http_status = status
        record.completed_at = utcnow()
        # Always hand the log over: a hot function's stderr lines arrive after its
        # answer (the engine's log stream lags the socket) and land in it then.
        self.calls.finish(record, call_log)
        metrics.call(status)
        self._inflight -= 1
        if self._inflight == 0:
            self._idle.set()

    def _pool(self, target: Target) -> HotPool:
        return self._pools.get(target, self._metrics.get(target.fn.id))

    async def _call_hot(
        self, target: Target, req: CallRequest, record: CallRecord, call_log: CallLog
    ) -> CallResult:
        """The agent dispatches, the pool schedules, the container exchanges."""
        pool = self._pool(target)
        pool.arrive()
        departed = False
        try:
            for attempt in range(_CONNECT_RETRIES + 1):
                lease = pool.lease(record, first=attempt == 0)
                container = await lease.__aenter__()
                try:
                    result = await container.call(req, call_log)
                except ConnectFailed:
                    lease.end()
                    # Nothing was sent: it died while idle; try another one.
                    if attempt == _CONNECT_RETRIES:
                        raise InvalidFunctionResponse(
                            "could not connect to the function's container"
                        ) from None
                    continue
                except BaseException:
                    lease.end()
                    raise
                if result.stream is None:
                    lease.end()
                else:  # the container is the call's until the body is relayed
                    departed = True
                    result.stream.on_close(_ender(lease, pool))
                return result
            raise AssertionError("unreachable")
        finally:
            if not departed:
                pool.depart()

    # -- eviction, housekeeping ------------------------------------------------

    def _reserve(self, mb: int, requester: object | None) -> bool:
        """Reserve ``mb`` for ``requester`` (a pool's fleet, or None for a default-format
        run), evicting idle containers of others first if it does not fit. The budget
        is held meanwhile, so the memory freed here goes to ``requester`` only."""
        budget = self.budget
        shortfall = budget.shortfall(mb)
        if shortfall == 0:
            return budget.try_reserve(mb)
        with budget.held():
            self._evict(shortfall, requester)
            return budget.try_reserve(mb)

    def _evict(self, needed_mb: int, requester: object | None) -> int:
        """Free memory: idle warm generic containers first, then other functions'
        idle containers, least recently used first."""
        freed = self.generic.evict(needed_mb) if self.generic is not None else 0
        if freed < needed_mb:
            freed += self._pools.evict(needed_mb - freed, requester)
        return freed

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            try:
                self.housekeeping()
            except Exception:
                log.exception("agent housekeeping failed")

    def housekeeping(self) -> None:
        """Retire containers past their keep-alive; forget empty pools."""
        if self.generic is not None:
            self.generic.housekeeping()
        self._pools.housekeeping(time.monotonic())

    # -- introspection (metrics, tests) ----------------------------------------

    def pools(self) -> list[HotPool]:
        return self._pools.all()

    def memory_reserved_mb(self) -> int:
        return self.budget.used_mb

    def container_counts(self) -> Iterator[tuple[str, str, int]]:
        return self._pools.container_counts()

    def queue_depths(self) -> Iterator[tuple[str, int]]:
        return self._pools.queue_depths()

    @property
    def inflight(self) -> int:
        return self._inflight

    def generic_count(self) -> int:
        """Warm generic containers, starting or waiting to be specialised."""
        return len(self.generic.all) if self.generic is not None else 0


def _ender(lease: Lease, pool: HotPool) -> Callable[[str | None], None]:
    def end(_error: str | None) -> None:
        lease.end()
        pool.depart()

    return end


def _reset_dir(path: Path, create: bool = True) -> None:
    iofs.unmount_under(path)  # bounded socket dirs of an earlier run (hotfn.agent.iofs)
    shutil.rmtree(path, ignore_errors=True)
    if create:
        path.mkdir(parents=True, exist_ok=True)

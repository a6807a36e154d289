"""The hot containers of one function configuration, and the calls waiting for them.

Scheduling rules (design.md §7, and what Fn gets wrong):

- a call takes a container with a free slot at once (most recently used first, so
  surplus containers go idle and time out);
- otherwise it queues (FIFO, bounded: ``max_queue_per_fn`` → 503 + Retry-After), and a
  new container is started only if the queue exceeds what starting containers will
  absorb *and* the busy containers are not expected to free up sooner than a new
  container would be ready (from running averages of call and start times). Fn
  starts one container per excess waiter, which at 16 callers on 2 cores starts
  dozens of containers that steal CPU from the ones serving calls;
- the number of containers per fn is capped (``hotfn.io/max-containers``, else
  ``max_containers_per_fn``, else 2 × CPUs), and each reserves its fn's memory in
  the server's budget (evicting other functions' idle containers when needed);
- a waiter that has not been served within the start estimate re-evaluates, so a
  wrong estimate (a call much slower than usual) costs at most one start time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from hotfn.agent.container import HotContainer
from hotfn.agent.fleet import Fleet
from hotfn.agent.growth import Growth
from hotfn.agent.handover import Waiters
from hotfn.agent.lease import Lease
from hotfn.agent.metrics import FnMetrics
from hotfn.agent.shared import AgentContext, cpu_count, int_setting
from hotfn.agent.starts import StartStrategy
from hotfn.errors import HotfnError, ShuttingDown, TooBusy
from hotfn.types import (
    ANNOTATION_CONCURRENCY,
    ANNOTATION_MAX_CONTAINERS,
    CallRecord,
    Target,
)


class HotPool:
    """Containers and waiters of one ``Target.key``."""

    def __init__(
        self,
        target: Target,
        ctx: AgentContext,
        starts: Sequence[StartStrategy],
        metrics: FnMetrics | None = None,
    ) -> None:
        self.target = target
        self.metrics = metrics or FnMetrics(target.fn.id)
        self.key = target.key
        self.ctx = ctx
        settings = ctx.settings
        self.concurrency = int_setting(target.annotation(ANNOTATION_CONCURRENCY), 1, 1, 1024)
        default_max = settings.max_containers_per_fn or cpu_count() * 2
        self.max_containers = int_setting(
            target.annotation(ANNOTATION_MAX_CONTAINERS), default_max, 1, 10_000
        )
        self.max_queue = settings.max_queue_per_fn
        self.active = 0  # calls between arrive() and depart()
        self.calls_seen = 0
        self.prewarmed_gap = -1.0  # the idle gap (its start) a pre-warm was made for
        self.free: list[HotContainer] = []  # running containers with a free slot
        self.waiters: Waiters[HotContainer] = Waiters()
        self.draining = False
        # The loop the pool's containers live on, taken at the first wait: finding it
        # costs a getpid() syscall on Python 3.11, and at 4 callers most calls wait.
        self._loop: asyncio.AbstractEventLoop | None = None
        self.growth = Growth()
        self.last_used = time.monotonic()
        self.fleet = Fleet(
            target,
            ctx,
            starts,
            self.metrics,
            self.growth,
            max_containers=self.max_containers,
            ready=self._ready,
            failed=self._start_failed,
            exited=self.on_exit,
        )

    def __repr__(self) -> str:
        return (
            f"<HotPool {self.target.fn.name} containers={len(self.containers)} "
            f"starting={self.starting} free={len(self.free)} waiters={len(self.waiters)}>"
        )

    # -- acquire / release ------------------------------------------------------

    def lease(self, record: CallRecord, first: bool = True) -> Lease:
        """``async with pool.lease(record) as container``: a container for one call,
        given back (or retired, if the call left it unhealthy) at the end; the
        record gets the queue, start and run facts (queue time on the ``first``
        attempt only)."""
        return Lease(self, record, first)

    def try_acquire(self) -> HotContainer | None:
        """A container with a free slot, taken now, or None (the fast path)."""
        free = self.free
        while free:
            c = free[-1]
            if c.state == "gone":
                free.pop()
                c.in_free = False
                continue
            c.inflight += 1
            c.state = "busy"
            if c.inflight >= self.concurrency:
                free.pop()
                c.in_free = False
            return c
        return None

    def arrive(self) -> None:
        """A call for this fn arrived: tell the keep-alive policy how long the fn had
        been idle (no call running), the sample adaptive keep-alive learns from."""
        if self.active == 0 and self.calls_seen:
            self.ctx.keepalive.observe_idle(self.target, time.monotonic() - self.last_used)
        self.active += 1
        self.calls_seen += 1

    def depart(self) -> None:
        self.active -= 1
        if self.active == 0:
            self.last_used = time.monotonic()

    async def acquire(self) -> HotContainer:
        """A container for one call, waiting in the queue if needed."""
        c = self.try_acquire()
        if c is not None:
            return c
        if self.draining:
            raise ShuttingDown("this function's configuration changed; retry")
        self.ctx.budget.check_fits(self.target.fn.memory)
        if len(self.waiters) >= self.max_queue:
            raise TooBusy(
                f"too many calls waiting for function {self.target.fn.name} "
                f"({self.max_queue} queued); retry later",
                retry_after=self._retry_after(),
            )
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        fut = self.waiters.enqueue(1, loop)
        # One timer per waiter (no wrapper task): it re-evaluates growth when the
        # wait has lasted as long as a start, and ends the wait at max_queue_wait.
        timer = loop.call_later(self.growth.recheck_s(), self._waited, fut, loop.time())
        try:
            self._maybe_start()
            return await self.waiters.wait(fut, self.release)
        finally:
            timer.cancel()

    def _waited(self, fut: asyncio.Future[HotContainer], since: float) -> None:
        """Timer of a waiter still queued (see ``acquire``)."""
        if fut.done():
            return
        loop = asyncio.get_running_loop()
        limit = self.ctx.settings.max_queue_wait
        if loop.time() - since >= limit:
            fut.set_exception(
                TooBusy(
                    f"no container of function {self.target.fn.name} became free within "
                    f"{limit:g} s; retry later",
                    retry_after=self._retry_after(),
                )
            )
            return
        # Waited as long as a start takes: the estimate was wrong (a call is much
        # slower than usual), so a new container is worth it now.
        self._maybe_start(force=True)
        delay = min(self.growth.recheck_s(), max(0.0, since + limit - loop.time()))
        # Re-arm; the handle is not kept: _waited checks fut.done() first.
        loop.call_later(delay, self._waited, fut, since)

    def release(self, c: HotContainer) -> None:
        """Give back one slot of ``c`` after a call."""
        c.inflight -= 1
        now = time.monotonic()
        c.last_used = now
        self.last_used = now
        if c.state == "gone":
            return
        if self._hand_over(c):
            return
        if self.draining:
            # Old configuration: serve the calls already queued here, then go.
            if c.inflight == 0:
                self.retire(c)
            return
        if c.inflight == 0:
            c.state = "idle"
        if not c.in_free:
            c.in_free = True
            self.free.append(c)

    def _hand_over(self, c: HotContainer) -> bool:
        """Give a slot of ``c`` to the first live waiter; False if nobody waits."""
        if self.waiters.first_size() is None:
            return False
        c.inflight += 1
        c.state = "busy"
        return self.waiters.hand_over(c)

    def _retry_after(self) -> int:
        running = (len(self.containers) - self.starting) * self.concurrency
        return self.growth.retry_after(len(self.waiters), running)

    # -- growth -----------------------------------------------------------------

    def _should_start(self, force: bool = False) -> bool:
        if self.draining or not self.waiters:
            return False
        fleet = self.fleet
        total = len(fleet)
        if total >= self.max_containers:
            return False
        running = (total - fleet.starting) * self.concurrency
        supply = fleet.starting * self.concurrency
        return self.growth.worth_starting(self.waiters.live(), supply, running, force)

    def _maybe_start(self, force: bool = False) -> None:
        while self._should_start(force):
            if not self.fleet.reserve(wake=self._maybe_start):
                return
            self.fleet.launch("image")
            force = False  # one forced start per re-evaluation

    def start_ahead(self, start_path: str) -> bool:
        """Start a container before any call needs it (provisioned, pre-warmed);
        False if the pool is full or no memory can be freed for it."""
        return not self.draining and self.fleet.start_ahead(start_path)

    def ensure_provisioned(self) -> None:
        """Top up to ``hotfn.io/provisioned`` started containers."""
        if not self.draining:
            self.fleet.ensure_provisioned()

    def _ready(self, c: HotContainer) -> None:
        """The fleet started ``c``: serve waiters with it, or keep it free."""
        if c.exit is not None:  # died between becoming ready and now
            self.retire(c)
            self._maybe_start()
            return
        while c.inflight < self.concurrency and self._hand_over(c):
            pass
        if self.draining:
            if c.inflight == 0:
                self.retire(c)
        elif c.inflight < self.concurrency:
            c.in_free = True
            self.free.append(c)

    def _start_failed(self, exc: HotfnError) -> None:
        # Waiters others will serve keep waiting; if nothing else is running or
        # starting, nobody will, so they all get the error (fast, not a queue timeout).
        if self.fleet.containers:
            return
        self.waiters.fail_all(exc)

    # -- shrink -----------------------------------------------------------------

    def retire(self, c: HotContainer) -> None:
        """Remove ``c`` from the pool now and from the engine in the background."""
        if c.state == "gone":
            return
        c.state = "gone"
        if c.in_free:
            c.in_free = False
            try:
                self.free.remove(c)
            except ValueError:
                pass
        self.fleet.remove(c)

    def on_exit(self, c: HotContainer) -> None:
        """The container stopped on its own (crash, OOM): drop it; calls in flight on it
        fail by themselves (and read its exit status). The next call, or a waiter,
        starts a replacement (at once if the fn has provisioned containers)."""
        self.retire(c)
        self._maybe_start()
        self.ensure_provisioned()

    def drain(self) -> None:
        """Stop giving this pool new calls: idle containers go now, busy ones once
        they have served the calls already queued here."""
        self.draining = True
        for c in list(self.free):
            if c.inflight == 0:
                self.retire(c)

    @property
    def empty(self) -> bool:
        return not self.containers and not self.waiters and self.starting == 0

    @property
    def containers(self) -> set[HotContainer]:
        """Starting, idle and busy containers (the fleet's)."""
        return self.fleet.containers

    @property
    def starting(self) -> int:
        return self.fleet.starting

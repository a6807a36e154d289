"""Default-format calls: one container per call (design.md §3).

The body goes to the container's stdin, stdin is closed, stdout is the response;
exit code 0 → 200, non-zero → 502 with the code in the message and stderr in the
call's log; past the deadline the container is killed → 504. The driver does the
stdin/stdout plumbing and always removes the container.

Cold runs share the per-fn container cap and the memory budget with hot pools.
"""

from __future__ import annotations

import asyncio
import time

from hotfn.agent.call_log import CallLog, deadline_after
from hotfn.agent.handover import Waiters
from hotfn.agent.httpstream import CallRequest, CallResult, canonical
from hotfn.agent.metrics import FnMetrics
from hotfn.agent.shared import AgentContext, cpu_count, int_setting
from hotfn.drivers.base import ContainerSpec
from hotfn.errors import FunctionFailed, FunctionTimeout, OutOfMemory, ResponseTooLarge, TooBusy
from hotfn.types import ANNOTATION_MAX_CONTAINERS, CallRecord, Target


class _Limiter:
    """At most ``limit`` concurrent runs of one fn; FIFO queue bounded by ``max_queue``."""

    def __init__(self, limit: int, max_queue: int) -> None:
        self.limit = limit
        self.max_queue = max_queue
        self.running = 0
        self.waiters: Waiters[None] = Waiters()

    async def acquire(self, wait_s: float) -> None:
        if self.running < self.limit and not self.waiters:
            self.running += 1
            return
        if len(self.waiters) >= self.max_queue:
            raise TooBusy(retry_after=1)
        fut = self.waiters.enqueue()
        try:
            async with asyncio.timeout(wait_s):
                await self.waiters.wait(fut, lambda _: self.release())
        except TimeoutError:
            raise TooBusy("no slot free for this function; retry later") from None

    def release(self) -> None:
        if not self.waiters.hand_over(None):  # the slot passes to the waiter
            self.running -= 1


def default_format_env(ctx: AgentContext, target: Target, req: CallRequest) -> dict[str, str]:
    """Config + the per-call environment of §3."""
    env = ctx.base_env(target, "default")
    env["FN_CALL_ID"] = req.call_id
    env["FN_DEADLINE"] = deadline_after(target.fn.timeout)
    env["FN_METHOD"] = req.method
    env["FN_REQUEST_URL"] = req.url
    for name, value in req.headers:
        key = "FN_HEADER_" + canonical(name).replace("-", "_")
        env[key] = f"{env[key]}, {value}" if key in env else value
        if name == "fn-attempt":  # detached calls (agent/detached.py): which attempt
            env["FN_ATTEMPT"] = value
    return env


class DefaultFormatRunner:
    """Runs default-format calls."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self._limiters: dict[str, _Limiter] = {}

    def _limiter(self, target: Target) -> _Limiter:
        lim = self._limiters.get(target.fn.id)
        settings = self.ctx.settings
        limit = int_setting(
            target.annotation(ANNOTATION_MAX_CONTAINERS),
            settings.max_containers_per_fn or cpu_count() * 2,
            1,
            10_000,
        )
        if lim is None:
            lim = self._limiters[target.fn.id] = _Limiter(limit, settings.max_queue_per_fn)
        lim.limit = limit
        return lim

    async def run(
        self,
        target: Target,
        req: CallRequest,
        record: CallRecord,
        log: CallLog,
        metrics: FnMetrics,
    ) -> CallResult:
        fn = target.fn
        settings = self.ctx.settings
        t0 = time.perf_counter()
        limiter = self._limiter(target)
        await limiter.acquire(settings.max_queue_wait)
        try:
            self.ctx.budget.check_fits(fn.memory)
            if not self.ctx.reserve(fn.memory, None):
                await self.ctx.budget.wait(fn.memory, settings.max_queue_wait)
            try:
                queued = time.perf_counter() - t0
                record.queued_ms = queued * 1000
                metrics.queue.observe(queued)
                spec = ContainerSpec(
                    name=self.ctx.container_name(fn.id, "default"),
                    image=fn.image,
                    env=default_format_env(self.ctx, target, req),
                    labels=self.ctx.container_labels(fn.id, "default"),
                    memory_mb=fn.memory,
                    network_mode=self.ctx.network_mode(target),
                )
                result = await self.ctx.driver.run_default_format(
                    spec, req.body, float(fn.timeout), settings.call_log_max_bytes
                )
            finally:
                self.ctx.budget.release(fn.memory)
        finally:
            limiter.release()
        # "pulled": the image was pulled first (start_ms includes the pull).
        record.start_path = "pulled" if result.pulled_ms else "image"
        record.container_id = result.container_id or None
        record.start_ms = result.start_ms
        record.run_ms = result.run_ms
        metrics.started("default", record.start_path, result.start_ms / 1000)
        metrics.run.observe(result.run_ms / 1000)
        if result.stderr:
            log.add_bytes("stderr", result.stderr)
        if result.timed_out:
            raise FunctionTimeout()
        if result.oom_killed:
            raise OutOfMemory(f"function ran out of memory (limit {fn.memory} MB)")
        if result.exit_code != 0:
            raise FunctionFailed(f"function failed: exit code {result.exit_code}")
        if req.max_response and len(result.stdout) > req.max_response:
            raise ResponseTooLarge.over(req.max_response)
        return CallResult(200, [], result.stdout)

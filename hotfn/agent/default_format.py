"""Default-format calls: one container per call (design.md §3).

The body goes to the container's stdin, stdin is closed, stdout is the response;
exit code 0 → 200, non-zero → 502 with the code in the message and stderr in the
call's log; past the deadline the container is killed → 504. The driver does the
stdin/stdout plumbing and always removes the container.

stdout streams: it is held back (up to ``HOLD_BYTES``, or ``HOLD_S`` after its first
byte) so a run that ends soon gets an exact answer, 200 or 502; past that the answer
is committed to 200 and the rest flows through a bounded :class:`Pipe` (a later
failure, the limit or the deadline cut it, and the call record says why). The
deadline holds all along: the driver kills the container at the timeout even while
output waits for a slow client.

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
from hotfn.body import BodyStream, Pipe
from hotfn.drivers.base import ContainerSpec, DefaultFormatResult
from hotfn.errors import FunctionFailed, FunctionTimeout, OutOfMemory, ResponseTooLarge, TooBusy
from hotfn.types import ANNOTATION_MAX_CONTAINERS, CallRecord, Target

HOLD_BYTES = 64 * 1024  # stdout held back to decide 200 vs 502 (hotwrap holds 1 MiB)
HOLD_S = 0.25  # ... or this long after the first byte: then it streams
HOLD_POLL_S = 0.05
PIPE_HIGH = 256 * 1024  # stdout bytes buffered per call before the container waits


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
        """Run the call; its stdout is held back until the container exits, or
        ``HOLD_BYTES`` or ``HOLD_S`` have passed since the first byte, and then
        streams (the answer is committed to 200: a later failure cuts it)."""
        fn = target.fn
        settings = self.ctx.settings
        t0 = time.perf_counter()
        limiter = self._limiter(target)
        await limiter.acquire(settings.max_queue_wait)
        try:
            self.ctx.budget.check_fits(fn.memory)
            if not self.ctx.reserve(fn.memory, None):
                await self.ctx.budget.wait(fn.memory, settings.max_queue_wait)
        except BaseException:
            limiter.release()
            raise
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
        pipe = Pipe(PIPE_HIGH)
        run = asyncio.ensure_future(self._execute(target, spec, req, pipe, limiter))
        try:
            await self._hold(run, pipe, req.max_response)
        except BaseException:
            run.cancel()  # the driver kills and removes the container
            raise
        if not run.done():  # committed to 200: the rest streams
            return CallResult(200, [], b"", self._stream(run, pipe, req, record, log, metrics))
        result = run.result()  # raises what the run raised (ImageNotFound...)
        self._account(result, record, log, metrics)
        _check(result, fn.memory)
        body = pipe.take_all()
        if req.max_response and len(body) > req.max_response:
            raise ResponseTooLarge.over(req.max_response)
        return CallResult(200, [], body)

    async def _execute(
        self,
        target: Target,
        spec: ContainerSpec,
        req: CallRequest,
        pipe: Pipe,
        limiter: _Limiter,
    ) -> DefaultFormatResult:
        try:
            return await self.ctx.driver.run_default_format(
                spec,
                req.body,
                float(target.fn.timeout),
                self.ctx.settings.call_log_max_bytes,
                stdout=pipe,
                stdin_rest=req.rest,
            )
        finally:
            self.ctx.budget.release(target.fn.memory)
            limiter.release()
            pipe.end()

    @staticmethod
    async def _hold(run: asyncio.Future[DefaultFormatResult], pipe: Pipe, limit: int) -> None:
        """Until the run ends or its output should start to flow."""
        loop = asyncio.get_running_loop()
        first_at = 0.0
        while not run.done():
            await asyncio.wait({run}, timeout=HOLD_POLL_S)
            if limit and pipe.total > limit:
                raise ResponseTooLarge.over(limit)
            if pipe.total and not first_at:
                first_at = loop.time()
            if pipe.held >= HOLD_BYTES or (first_at and loop.time() - first_at >= HOLD_S):
                return

    def _stream(
        self,
        run: asyncio.Future[DefaultFormatResult],
        pipe: Pipe,
        req: CallRequest,
        record: CallRecord,
        log: CallLog,
        metrics: FnMetrics,
    ) -> BodyStream:
        limit = req.max_response

        accounted = False

        def account() -> None:
            nonlocal accounted
            if not accounted and run.done() and not run.cancelled() and not run.exception():
                accounted = True
                self._account(run.result(), record, log, metrics)

        async def read() -> bytes | None:
            data = await pipe.get()
            if data is None:  # stdout closed: the run's outcome decides the end
                result = await run
                account()
                _check(result, 0)
                return None
            if limit and pipe.total > limit:
                raise ResponseTooLarge.over(limit)
            return data

        def closed(error: str | None) -> None:
            if run.done():
                account()
            else:
                run.cancel()  # cut early: the driver kills and removes the container
            pipe.end()

        # A run that fails after the relay gave up: its error is not lost silently.
        run.add_done_callback(lambda done: done.cancelled() or done.exception())
        stream = BodyStream(read)
        stream.on_close(closed)
        return stream

    @staticmethod
    def _account(
        result: DefaultFormatResult, record: CallRecord, log: CallLog, metrics: FnMetrics
    ) -> None:
        # "pulled": the image was pulled first (start_ms includes the pull).
        record.start_path = "pulled" if result.pulled_ms else "image"
        record.container_id = result.container_id or None
        record.start_ms = result.start_ms
        record.run_ms = result.run_ms
        metrics.started("default", record.start_path, result.start_ms / 1000)
        metrics.run.observe(result.run_ms / 1000)
        if result.stderr:
            log.add_bytes("stderr", result.stderr)


def _check(result: DefaultFormatResult, memory_mb: int) -> None:
    """Raise what a finished run's exit means for its caller."""
    if result.timed_out:
        raise FunctionTimeout()
    if result.oom_killed:
        limit = f" (limit {memory_mb} MB)" if memory_mb else ""
        raise OutOfMemory(f"function ran out of memory{limit}")
    if result.exit_code != 0:
        raise FunctionFailed(f"function failed: exit code {result.exit_code}")

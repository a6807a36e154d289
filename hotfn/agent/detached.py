"""Detached calls: enqueue before the 202, then run them from the durable queue.

``Dispatcher.enqueue`` stores the call (``hotfn.store.detached_queue``, group commit)
and returns once it is committed: the API answers 202 only then. The dispatcher
claims ready calls and runs each through ``Agent.call``, the same path as a sync
call (pools, caps, limits, call records), with ``Fn-Attempt: N`` added to its
headers (``FN_ATTEMPT`` for default-format fns) beside ``Fn-Call-Id``, so a handler
can tell a retry from a first run: delivery is **at least once**.

Scheduling: fns are served in the order of their oldest ready call and each fn has
at most ``detached_per_fn`` calls running here (default: the number of CPUs), so a
fn with thousands queued neither starves the others nor takes every container slot
sync calls need. A claim takes up to ``_CLAIM_AHEAD`` times that many of a fn's
calls at once (they wait here, leased, for a running slot): one claim transaction
then serves several calls. The dispatcher wakes when this server enqueues, when another server
does (PostgreSQL NOTIFY), when a running call ends, when a retry is due, and on a
slow poll (``detached_poll_s``) that also catches leases which ran out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from hotfn.agent.call_log import new_call_id
from hotfn.agent.detached_metrics import DEAD_LETTERS, ENQUEUED, QUEUE, REJECTED, RETRIES
from hotfn.agent.detached_policy import ATTEMPT_HEADER, RetryPolicy, backoff_s, retriable
from hotfn.agent.httpstream import CallRequest
from hotfn.agent.shared import cpu_count, log
from hotfn.config import Settings
from hotfn.errors import FunctionTimeout, HotfnError, NotFound, ShuttingDown, TooBusy
from hotfn.store.common import now
from hotfn.store.detached_queue import DetachedQueue, QueuedCall
from hotfn.types import CallRecord, Target

if TYPE_CHECKING:
    from hotfn.agent.agent import Agent

_PRUNE_EVERY_S = 60.0
_CLAIM_AHEAD = 8  # calls claimed per fn, per running slot
FAILED_CALL_HEADER = "fn-failed-call-id"  # on-failure calls: the call that failed


class Dispatcher:
    """Runs the queue's calls on ``agent``; ``targets`` loads a fn's target by id."""

    def __init__(
        self,
        agent: Agent,
        queue: DetachedQueue,
        targets: Callable[[str], Awaitable[Target]],
        settings: Settings,
    ) -> None:
        self.agent = agent
        self.queue = queue
        self.targets = targets
        self.settings = settings
        self.per_fn = settings.detached_per_fn or cpu_count()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._busy: dict[str, int] = {}  # claimed here and not ended, per fn
        self._waiting: dict[str, set[str]] = {}  # claimed, waiting for a slot, per fn
        self._slots: dict[str, asyncio.Semaphore] = {}  # running here, per fn
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._accepting = False
        self._last_prune = 0.0
        self._last_housekeeping = 0.0
        self._drained = False  # the last claim found nothing ready
        queue.subscribe(self.wake)

    # -- enqueue ------------------------------------------------------------------

    async def enqueue(self, target: Target, req: CallRequest) -> None:
        """Store a detached call; returns when it is committed (then answer 202).
        ``TooBusy`` (503) if the queue is full or this server is stopping."""
        if not self._accepting:
            raise ShuttingDown()
        created = now()
        max_age = RetryPolicy.of(target).max_age_s
        call = QueuedCall(
            id=req.call_id, fn_id=target.fn.id, app_id=target.app.id, method=req.method,
            url=req.url, headers=req.headers, body=req.body, max_response=req.max_response,
            created_at=created, expires_at=created + timedelta(seconds=max_age),
        )  # fmt: skip
        # An idle server stores the call already claimed by itself and runs it at
        # once: no claim transaction between the 202 and the start.
        direct = self._can_run_now(call.fn_id)
        if direct:
            call.status, call.attempts, call.started_at = "running", 1, created
            call.lease_owner = self.settings.instance
            call.lease_until = created + timedelta(seconds=self.settings.detached_lease_s)
            self._busy[call.fn_id] = self._busy.get(call.fn_id, 0) + 1  # the slot is taken
        try:
            await self.queue.enqueue(call)
        except BaseException as exc:
            if direct:
                self._release(call)
            if isinstance(exc, TooBusy):
                REJECTED.inc()
            raise
        ENQUEUED.labels(target.fn.id).inc()
        if direct:
            self._spawn(call)

    def _can_run_now(self, fn_id: str) -> bool:
        """Nothing was ready at the last claim, and the fn has a free slot here."""
        return (
            self._accepting
            and self._drained
            and fn_id not in self._waiting
            and self._busy.get(fn_id, 0) < self.per_fn
            and len(self._running) < self.settings.detached_max_running
        )

    async def redrive(self, target: Target, call_id: str) -> QueuedCall:
        """Run a failed call again, with a fresh set of attempts and max age."""
        expires = now() + timedelta(seconds=RetryPolicy.of(target).max_age_s)
        return await self.queue.redrive(target.fn.id, call_id, expires)

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Take back calls this server was running when it last died, then run."""
        reclaimed = await self.queue.reclaim(self.settings.instance)
        if reclaimed:
            log.info("%d detached calls of this server's earlier run queued again", reclaimed)
        await self._listen()
        self._accepting = True
        self._tasks = [asyncio.create_task(self._loop()), asyncio.create_task(self._renew())]
        self.wake()

    async def stop(self) -> None:
        """Stop claiming; let running calls end (up to ``drain_timeout``), give the
        rest back to the queue unrun."""
        self._accepting = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        running = list(self._running.values())
        if running:
            await asyncio.wait(running, timeout=self.settings.drain_timeout)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await self.queue.close()

    def wake(self) -> None:
        self._wakeup.set()

    async def _listen(self) -> None:
        try:
            await self.queue.listen()
        except Exception as exc:  # the slow poll covers it, and retries the LISTEN
            log.warning("could not LISTEN for detached calls: %s", exc)

    async def _loop(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a
            # cancel that arrives as the wait ends, and this loop would then never
            # stop (a shutdown hung on it).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.detached_poll_s):
                    await self._wakeup.wait()
            self._wakeup.clear()
            try:
                await self._fill()
                await self._housekeeping()
            except Exception as exc:  # the database is down: try again at the next poll
                log.warning("detached-call dispatch failed: %s", exc)

    async def _housekeeping(self) -> None:
        """At most once per poll interval, however often the loop wakes."""
        if time.monotonic() - self._last_housekeeping < self.settings.detached_poll_s:
            return
        self._last_housekeeping = time.monotonic()
        await self._listen()
        QUEUE.stats = await self.queue.stats()
        if time.monotonic() - self._last_prune >= _PRUNE_EVERY_S:
            self._last_prune = time.monotonic()
            await self.queue.prune(self.settings.calls_retention_s)

    async def _renew(self) -> None:
        lease = self.settings.detached_lease_s
        while True:
            await asyncio.sleep(lease / 3)
            try:
                await self.queue.renew(self.settings.instance, list(self._running), lease)
            except Exception as exc:
                log.warning("could not renew detached-call leases: %s", exc)

    async def _fill(self) -> None:
        while self._accepting:
            free = self.settings.detached_max_running - len(self._running)
            if free <= 0:
                return
            # A fn is claimed for when none of its claimed calls waits for a slot here
            # any more (not one call at a time as slots free up): one claim, many calls.
            ahead = self.per_fn * _CLAIM_AHEAD
            busy = dict.fromkeys(self._waiting, ahead)
            claimed = await self.queue.claim(
                self.settings.instance, free, ahead, busy, self.settings.detached_lease_s
            )
            self._drained = not claimed
            for call in claimed:
                self._waiting.setdefault(call.fn_id, set()).add(call.id)
                self._busy[call.fn_id] = self._busy.get(call.fn_id, 0) + 1
                self._spawn(call)
            if len(claimed) < free:
                return

    def _spawn(self, call: QueuedCall) -> None:
        task = asyncio.create_task(self._run(call))
        self._running[call.id] = task
        task.add_done_callback(functools.partial(self._ended, call))

    def _unwait(self, call: QueuedCall) -> None:
        """``call`` got its running slot, or ended without one."""
        waiting = self._waiting.get(call.fn_id)
        if waiting is None or call.id not in waiting:
            return
        waiting.discard(call.id)
        if not waiting:
            del self._waiting[call.fn_id]
            self.wake()  # its backlog here has run down: claim more

    def _ended(self, call: QueuedCall, _task: asyncio.Task[None]) -> None:
        self._running.pop(call.id, None)
        self._unwait(call)
        self._release(call)

    def _release(self, call: QueuedCall) -> None:
        left = self._busy.get(call.fn_id, 1) - 1
        if left:
            self._busy[call.fn_id] = left
        else:
            self._busy.pop(call.fn_id, None)
            self._slots.pop(call.fn_id, None)
        if call.fn_id not in self._waiting:
            self.wake()

    # -- one attempt --------------------------------------------------------------

    async def _run(self, call: QueuedCall) -> None:
        try:
            try:
                target = await self.targets(call.fn_id)
            except NotFound:
                await self._fail(call, None, "the fn was deleted", 404)
                return
            policy = RetryPolicy.of(target)
            if now() > call.expires_at:
                await self._fail(call, policy, f"older than its max age ({policy.max_age_s} s)")
                return
            await self._attempt(call, target, policy)
        except asyncio.CancelledError:
            # Shutting down mid-call: the call goes back to the queue, attempt uncounted.
            await asyncio.shield(self.queue.finish(call, "queued"))
            raise
        except HotfnError as exc:  # e.g. the database was unreachable for a moment
            log.warning("detached call %s given back: %s", call.id, exc.message)
            await self.queue.finish(call, "queued")

    async def _attempt(self, call: QueuedCall, target: Target, policy: RetryPolicy) -> None:
        headers = [*call.headers, (ATTEMPT_HEADER, str(call.attempts))]
        req = CallRequest(
            call.id, call.method, call.url, headers, call.body, False, call.max_response
        )
        record = CallRecord(
            call.id, call.fn_id, call.app_id, "running", call.created_at, attempts=call.attempts
        )
        slots = self._slots.get(call.fn_id)
        if slots is None:
            slots = self._slots[call.fn_id] = asyncio.Semaphore(self.per_fn)
        try:
            # Only the call holds a running slot: its end is written (group commit)
            # while the next call of the fn already runs.
            async with slots:
                self._unwait(call)
                self.agent.calls.running(record)
                result = await self.agent.call(target, req, record)
                if result.stream is not None:  # nobody reads the answer: to the end
                    await result.stream.drain()
        except ShuttingDown:
            await self.queue.finish(call, "queued")
        except HotfnError as exc:
            await self._failed_attempt(call, policy, exc)
        else:
            await self.queue.finish(call, "success", 200, lazy=True)

    async def _failed_attempt(self, call: QueuedCall, policy: RetryPolicy, exc: HotfnError) -> None:
        reason = exc.message
        if not retriable(exc):
            await self._fail(call, policy, f"{reason} (HTTP {exc.status}: not retried)", exc.status)
            return
        if call.attempts >= policy.attempts:
            n = call.attempts
            await self._fail(call, policy, f"attempt {n} of {n} failed: {reason}", exc.status)
            return
        delay = backoff_s(call.attempts, self.settings.detached_backoff_s)
        due = now() + timedelta(seconds=delay)
        if due > call.expires_at:
            why = f"{reason}; no attempt left within its max age ({policy.max_age_s} s)"
            await self._fail(call, policy, why, exc.status)
            return
        status = "timeout" if isinstance(exc, FunctionTimeout) else "error"
        if await self.queue.finish(call, status, exc.status, reason, run_at=due):
            RETRIES.labels(call.fn_id).inc()
            asyncio.get_running_loop().call_later(delay, self.wake)

    async def _fail(
        self, call: QueuedCall, policy: RetryPolicy | None, reason: str, status: int | None = None
    ) -> None:
        """The dead letter: ``failed`` with ``reason``, and sent to the on-failure fn."""
        follow_up = None
        forwarded = any(name == FAILED_CALL_HEADER for name, _ in call.headers)
        if policy is not None and policy.on_failure and not forwarded:
            follow_up = await self._on_failure_call(call, policy.on_failure, reason)
            if follow_up is None:
                reason += f"; on-failure fn {policy.on_failure} not found"
        if await self.queue.finish(call, "failed", status, reason, follow_up=follow_up):
            DEAD_LETTERS.labels(call.fn_id).inc()

    async def _on_failure_call(
        self, call: QueuedCall, fn_id: str, reason: str
    ) -> QueuedCall | None:
        try:
            target = await self.targets(fn_id)
        except NotFound:
            log.warning("on-failure fn %s of fn %s not found", fn_id, call.fn_id)
            return None
        created = now()
        kept = [(k, v) for k, v in call.headers if k == "content-type"]
        one_line = reason.replace("\r", " ").replace("\n", " ").encode("latin-1", "replace")
        return QueuedCall(
            id=new_call_id(), fn_id=target.fn.id, app_id=target.app.id, method="POST", url="",
            headers=[*kept, (FAILED_CALL_HEADER, call.id), ("fn-failed-fn-id", call.fn_id),
                     ("fn-failure-reason", one_line.decode("latin-1")[:1000])],
            body=call.body, max_response=call.max_response, created_at=created,
            expires_at=created + timedelta(seconds=RetryPolicy.of(target).max_age_s),
        )  # fmt: skip

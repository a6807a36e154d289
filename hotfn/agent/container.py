"""One hot container: start, readiness, the exchange of calls with its process, log
attribution, exit watching, removal.

A container knows its fn's configuration and reports upward only through the
``on_exit`` callback its pool gives it; whether it may serve another call after one
(``healthy``) is its own judgement, which the pool reads when the lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from hotfn.agent import iofs
from hotfn.agent.call_log import CallLog, deadline_after
from hotfn.agent.httpstream import CallRequest, CallResult, request_headers
from hotfn.agent.readiness import SOCKET_NAME, wait_for_socket
from hotfn.agent.shared import AgentContext, log
from hotfn.agent.starts import LISTENER, Placement, StartStrategy
from hotfn.agent.transport import BrokenResponse, ConnectFailed, ContainerClient, ResponseTooLarge
from hotfn.body import BodyStream, StreamClosed
from hotfn.drivers.base import IOFS_MOUNT, ExitStatus, LogLine
from hotfn.errors import (
    CallError,
    ContainerInitFailed,
    FunctionFailed,
    FunctionTimeout,
    HotfnError,
    InvalidFunctionResponse,
    InvalidInput,
    OutOfMemory,
    StartTimeout,
)
from hotfn.errors import ResponseTooLarge as ResponseTooLargeError
from hotfn.types import Target

State = Literal["starting", "idle", "busy", "gone"]

# Lines a function writes shortly after answering still belong to that call (the
# engine's log stream lags the socket by a few ms).
LOG_GRACE_S = 0.3


class HotContainer:
    """A container serving calls of one fn configuration over its unix socket."""

    def __init__(
        self,
        target: Target,
        ctx: AgentContext,
        starts: Sequence[StartStrategy],
        on_exit: Callable[[HotContainer], None],
        start_path: str = "image",
    ) -> None:
        self.target = target
        self.ctx = ctx
        self._starts = starts
        self._on_exit = on_exit
        self.placement: Placement | None = None  # set once, when started
        self.client: ContainerClient | None = None
        self.state: State = "starting"
        self.inflight = 0
        self.in_free = False  # listed in the pool's free stack
        self.healthy = True  # False once a call left it in doubt: retired on release
        self.memory_mb = target.fn.memory
        self.last_used = time.monotonic()
        self.created = self.last_used
        # Why it was started: "image" (a call needed it: an image start) or
        # "provisioned"/"prewarmed" (ahead of calls); a call-started one that
        # specialised a warm generic container says "specialised".
        self.start_path = start_path
        self.start_ms = 0.0
        self.calls = 0
        self.exit: ExitStatus | None = None
        # The loop this container lives on, kept: on Python 3.11 each
        # asyncio.get_running_loop() is a getpid() syscall, and calls need it.
        self._loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[ExitStatus] = self._loop.create_future()
        self.active_logs: list[CallLog] = []
        self.last_log: CallLog | None = None
        self.last_done = 0.0
        self._boot_lines: deque[str] = deque(maxlen=8)
        self._tasks: list[asyncio.Task[None]] = []
        self._removed = False

    def __repr__(self) -> str:
        return f"<HotContainer {self.name} {self.state} inflight={self.inflight}>"

    @property
    def id(self) -> str:
        return self.placement.id if self.placement is not None else ""

    @property
    def name(self) -> str:
        return self.placement.name if self.placement is not None else f"(fn {self.target.fn.name})"

    @property
    def via(self) -> str:
        """``"image"`` or ``"generic"`` (a specialised warm container)."""
        return self.placement.via if self.placement is not None else "image"

    # -- start -------------------------------------------------------------------

    async def start(self) -> None:
        """Place the container with the first strategy that can, and wait until its
        socket is ready.

        Raises ``ImageNotFound``, ``ContainerInitFailed``, ``OutOfMemory`` or
        ``StartTimeout`` (the caller removes the container).
        """
        t0 = time.perf_counter()
        for strategy in self._starts:
            placement = await strategy.start(self.target, self.memory_mb)
            if placement is not None:
                break
        else:
            raise ContainerInitFailed("no start strategy could place the container")
        self.placement = placement
        self._tasks.append(asyncio.create_task(self._watch_exit(placement.id)))
        self._tasks.append(asyncio.create_task(self._follow_logs(placement.id)))
        if placement.via == "generic" and self.start_path == "image":
            self.start_path = "specialised"
        elif placement.pulled_ms and self.start_path == "image":
            self.start_path = "pulled"  # start_ms includes the pull
        if placement.socket is not None:
            self.client = ContainerClient(placement.socket)
            self.start_ms = (time.perf_counter() - t0) * 1000
            return
        await self._ready(placement.iofs, t0)

    async def _ready(self, iofs: Path, t0: float) -> None:
        """Wait for ``lsnr.sock`` (or the container's exit, or the start timeout)."""
        ready = asyncio.ensure_future(wait_for_socket(iofs))
        timeout = self.ctx.settings.hot_start_timeout
        either: set[asyncio.Future[Any]] = {ready, self.exited}
        try:
            done, _ = await asyncio.wait(
                either, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if not ready.done():
                ready.cancel()
                with contextlib.suppress(asyncio.CancelledError, HotfnError):
                    await ready
        if ready in done:
            socket_path = ready.result()  # raises ContainerInitFailed on a bad symlink
            self.client = ContainerClient(socket_path)
            self.start_ms = (time.perf_counter() - t0) * 1000
            return
        if self.exited.done():
            raise await self._init_error(self.exited.result())
        raise StartTimeout(
            f"container initialization timed out: no socket at {IOFS_MOUNT}/{SOCKET_NAME} "
            f"after {timeout:g} s. The image must run an FDK (or hotwrap) that listens on "
            f"FN_LISTENER={LISTENER}; if the function is just slow to start, raise "
            f"HOTFN_HOT_START_TIMEOUT.{self._boot_tail()}"
        )

    async def _init_error(self, status: ExitStatus) -> HotfnError:
        # Give the log stream a moment to deliver the last lines the process wrote.
        if len(self._tasks) > 1:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._tasks[1]), 1.0)
        if status.oom_killed:
            return OutOfMemory(
                f"container ran out of memory while starting (limit {self.memory_mb} MB)"
                f"{self._boot_tail()}"
            )
        return ContainerInitFailed(
            f"container exited with code {status.exit_code} before creating its socket "
            f"{IOFS_MOUNT}/{SOCKET_NAME}: the image must run an FDK (or hotwrap) that "
            f"listens on FN_LISTENER={LISTENER}.{self._boot_tail()}"
        )

    def _boot_tail(self) -> str:
        if not self._boot_lines:
            return ""
        return " Last output: " + " | ".join(self._boot_lines)

    # -- background watchers ------------------------------------------------------

    async def _watch_exit(self, container_id: str) -> None:
        try:
            status = await self.ctx.driver.wait(container_id)
        except HotfnError as exc:
            status = ExitStatus(running=False, error=exc.message)
        self.exit = status
        if not self.exited.done():
            self.exited.set_result(status)
        if self.state != "gone" and self.state != "starting":
            log.info("container %s exited (%s)", self.name, status)
            self._on_exit(self)

    async def _follow_logs(self, container_id: str) -> None:
        try:
            async for line in self.ctx.driver.logs(container_id):
                self._on_log(line)
        except HotfnError:
            pass

    def _on_log(self, line: LogLine) -> None:
        if self.active_logs:
            for call_log in self.active_logs:
                call_log.add(line.stream, line.line)
        elif self.last_log is not None and time.monotonic() - self.last_done < LOG_GRACE_S:
            self.last_log.add(line.stream, line.line)
        elif self.state == "starting":
            self._boot_lines.append(line.line[:300])
        else:
            log.debug("%s %s: %s", self.name, line.stream, line.line)

    # -- calls --------------------------------------------------------------------

    async def call(self, req: CallRequest, call_log: CallLog) -> CallResult:
        """Send one call and read the answer; the function's output lines meanwhile
        go to ``call_log``. Raises ``ConnectFailed`` (nothing sent: try another
        container) or the ``HotfnError`` the caller gets; a call that leaves the
        container in doubt marks it not ``healthy``.

        A 200 whose body had not arrived whole comes back with a ``stream``: the
        call lasts until it is closed, and its reads keep the deadline and map
        failures as here."""
        client = self.client
        assert client is not None
        timeout = self.target.fn.timeout
        self.active_logs.append(call_log)
        # The deadline counts from container assignment (Fn's rule).
        loop = self._loop
        deadline = loop.time() + timeout
        streaming = False
        # One sweeper for all calls' deadlines, not an asyncio.timeout each (deadlines.py).
        deadlines = self.ctx.deadlines
        watch = deadlines.start_at(deadline, loop)
        try:
            try:
                headers = request_headers(req, deadline_after(timeout))
                result = await client.open(
                    headers, req.body, req.max_response, req.rest, req.length
                )
                if result.stream is not None and result.status != 200:
                    # An error's body only goes to the log: read it here.
                    body = await _read_all(result.stream)
                    result = CallResult(result.status, result.headers, body)
            except asyncio.CancelledError:
                # Past the deadline (it may be stuck: a fresh one serves the next
                # call), or the client went away mid-call: the connection is in an
                # unknown state and Fn's contract has no cancel, so replace it.
                self.healthy = False
                if deadlines.end(watch):
                    raise FunctionTimeout() from None
                raise
            except ConnectFailed:
                # Nothing was sent, the caller retries elsewhere.
                self.healthy = False
                raise
            except Exception as exc:
                deadlines.end(watch)  # finding out why may take a moment
                raise await self._failure(exc) from None
            finally:
                deadlines.end(watch)
            if result.stream is not None:
                result.stream = self._relayed(result.stream, deadline, call_log)
                streaming = True
        finally:
            if not streaming:
                self._call_done(call_log)
        status = result.status
        if status == 200:
            return result
        if status == 502:
            if result.body:
                call_log.add("fdk", result.body[:2000].decode(errors="replace"))
            if any(name == b"fn-hotwrap-oom" for name, _ in result.headers):
                # hotwrap saw its command SIGKILLed as the container's OOM-kill
                # counter rose: the container survives, the call ran out of memory.
                raise OutOfMemory(
                    f"function ran out of memory (limit {self.memory_mb} MB): the OOM "
                    "killer killed hotwrap's command; the container serves the next call"
                )
            raise FunctionFailed()
        # 504 from the FDK: the handler overran and may still be running inside
        # (Python cannot stop a thread): replace the container, as on our timeout.
        self.healthy = False
        if status == 504:
            raise FunctionTimeout()
        raise InvalidFunctionResponse(
            f"error receiving function response: the container answered status {status}"
        )

    def _call_done(self, call_log: CallLog) -> None:
        with contextlib.suppress(ValueError):
            self.active_logs.remove(call_log)
        self.last_log = call_log
        self.last_done = time.monotonic()
        self.calls += 1

    async def _failure(self, exc: Exception) -> Exception:
        """What a failed exchange becomes for the caller; the container is in doubt
        (unless nothing was sent: a header that is not Latin-1)."""
        if isinstance(exc, InvalidInput):
            return exc
        self.healthy = False
        if isinstance(exc, TimeoutError):
            return FunctionTimeout()  # it may be stuck; a fresh one serves the next call
        if isinstance(exc, ResponseTooLarge):
            return ResponseTooLargeError.over(exc.limit)  # still writing into a closed conn
        if isinstance(exc, BrokenResponse):
            return await self._broken(exc)
        return exc  # the client's side: over the body limit (413), gone...

    def _relayed(self, inner: BodyStream, deadline: float, call_log: CallLog) -> BodyStream:
        """The response body as the endpoint reads it: within the deadline, failures
        mapped; closing it ends the call on this container."""
        loop = self._loop

        async def read() -> bytes | None:
            try:
                if loop.time() >= deadline:  # data may never run out: check each time
                    raise TimeoutError
                async with asyncio.timeout_at(deadline):
                    return await inner.read()
            except Exception as exc:
                if outer.closed:  # the relay gave up meanwhile (the client went away)
                    raise StreamClosed(outer.error or "closed") from None
                raise await self._failure(exc) from None

        def closed(error: str | None) -> None:
            if error is not None:
                self.healthy = False  # it may still be writing the rest
            inner.close(error)
            self._call_done(call_log)

        outer = BodyStream(read, inner.length)
        outer.on_close(closed)
        return outer

    async def _broken(self, exc: BrokenResponse) -> CallError:
        """Why a call's connection broke: OOM, a crash, or garbage."""
        status = await self.exit_status(2.0)
        if status is not None and status.oom_killed:
            return OutOfMemory(
                f"function ran out of memory (limit {self.memory_mb} MB); "
                "the container was killed by the OOM killer"
            )
        if status is not None and not status.running:
            # 137 without OOM: SIGKILL from outside (docker kill, the engine stopping).
            how = " (killed by SIGKILL)" if status.exit_code == 137 else ""
            return InvalidFunctionResponse(
                f"error receiving function response: the container exited with code "
                f"{status.exit_code}{how} during the call"
            )
        return InvalidFunctionResponse(f"error receiving function response: {exc}")

    async def exit_status(self, wait_s: float) -> ExitStatus | None:
        """How the container ended, waiting up to ``wait_s`` for it to end."""
        if self.exit is not None:
            return self.exit
        try:
            return await asyncio.wait_for(asyncio.shield(self.exited), wait_s)
        except TimeoutError:
            return None

    # -- removal ------------------------------------------------------------------

    async def remove(self) -> None:
        """Kill and remove the container and its iofs dir (idempotent, never raises)."""
        if self._removed:
            return
        self._removed = True
        self.state = "gone"
        if self.client is not None:
            await self.client.close()
        placement = self.placement
        if placement is not None:
            try:
                await self.ctx.driver.remove(placement.id)
            except HotfnError as exc:
                log.warning("could not remove container %s: %s", self.name, exc)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if placement is not None:
            await asyncio.to_thread(iofs.remove, placement.iofs)
            if placement.code_dir is not None:
                await asyncio.to_thread(shutil.rmtree, placement.code_dir, True)


async def _read_all(stream: BodyStream) -> bytes:
    parts = []
    error: str | None = "interrupted"
    try:
        while (data := await stream.read()) is not None:
            parts.append(data)
        error = None
    finally:
        stream.close(error)
    return b"".join(parts)

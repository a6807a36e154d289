"""One hot container: start, readiness, log attribution, exit watching, removal."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hotfn.agent.calls import CallLog
from hotfn.agent.context import AgentContext, log
from hotfn.agent.generic import SpecialiseFailed, send_specialise, specialise_env
from hotfn.agent.readiness import SOCKET_NAME, wait_for_socket
from hotfn.agent.specialize import CODE_DIR, install_code
from hotfn.agent.transport import ContainerClient
from hotfn.drivers.base import IOFS_MOUNT, ContainerSpec, ExitStatus, LogLine
from hotfn.errors import ContainerInitFailed, HotfnError, OutOfMemory, StartTimeout

if TYPE_CHECKING:
    from hotfn.agent.pool import HotPool

State = Literal["starting", "idle", "busy", "gone"]

LISTENER = f"unix:{IOFS_MOUNT}/{SOCKET_NAME}"
# Lines a function writes shortly after answering still belong to that call (the
# engine's log stream lags the socket by a few ms).
LOG_GRACE_S = 0.3


class HotContainer:
    """A container serving calls of one pool over its unix socket."""

    def __init__(self, pool: HotPool, ctx: AgentContext, start_path: str = "cold") -> None:
        self.pool = pool
        self.ctx = ctx
        self.name = ctx.container_name(pool.target.fn.id, "hot")
        self.id = ""
        self.iofs = ctx.iofs_base / os.urandom(6).hex()
        self.client: ContainerClient | None = None
        self.state: State = "starting"
        self.inflight = 0
        self.in_free = False  # listed in the pool's free stack
        self.memory_mb = pool.target.fn.memory
        self.last_used = time.monotonic()
        self.created = self.last_used
        # Why it was started: "cold" (a call needed it) or "provisioned"/"prewarmed"
        # (ahead of calls); a call-started one that specialised a warm generic
        # container says "specialized". ``via``: "image" or "generic".
        self.start_path = start_path
        self.via = "image"
        self.code_dir: Path | None = None  # the /function mount of a specialised one
        self.start_ms = 0.0
        self.calls = 0
        self.exit: ExitStatus | None = None
        self.exited: asyncio.Future[ExitStatus] = asyncio.get_running_loop().create_future()
        self.active_logs: list[CallLog] = []
        self.last_log: CallLog | None = None
        self.last_done = 0.0
        self._boot_lines: deque[str] = deque(maxlen=8)
        self._tasks: list[asyncio.Task[None]] = []
        self._removed = False

    def __repr__(self) -> str:
        return f"<HotContainer {self.name} {self.state} inflight={self.inflight}>"

    # -- start -------------------------------------------------------------------

    def spec(self) -> ContainerSpec:
        target = self.pool.target
        env = self.ctx.base_env(target, "http-stream")
        env["FN_LISTENER"] = LISTENER
        return ContainerSpec(
            name=self.name,
            image=target.fn.image,
            env=env,
            labels=self.ctx.container_labels(target.fn.id, "hot"),
            memory_mb=self.memory_mb,
            network_mode=self.ctx.network_mode(target),
            iofs_dir=self.iofs,
        )

    async def start(self) -> None:
        """Start the container and wait until its socket is ready: by specialising a
        warm generic runtime container when the fn's image allows it
        (:mod:`hotfn.agent.generic`), else by starting one from the fn's image.

        Raises ``ImageNotFound``, ``ContainerInitFailed``, ``OutOfMemory`` or
        ``StartTimeout`` (the caller removes the container).
        """
        t0 = time.perf_counter()
        if self.ctx.generic is not None and await self._specialise(t0):
            return
        self.iofs.mkdir(parents=True, exist_ok=True)
        # The FDK runs as an unprivileged user and must create its socket here.
        self.iofs.chmod(0o777)
        self.id = await self.ctx.driver.start(self.spec())
        self._watch()
        await self._ready(t0)

    def _watch(self) -> None:
        self._tasks.append(asyncio.create_task(self._watch_exit()))
        self._tasks.append(asyncio.create_task(self._follow_logs()))

    async def _specialise(self, t0: float) -> bool:
        """Become the fn's container by specialising a warm generic one; False (and
        nothing changed) when none can be used, so the caller starts one normally."""
        pools = self.ctx.generic
        assert pools is not None
        target = self.pool.target
        plan = await pools.planner.plan(target)
        g = pools.take(plan.runtime) if plan is not None else None
        if plan is None or g is None:
            return False
        self.id, self.name, self.iofs, self.code_dir = g.id, g.name, g.iofs, g.code_dir
        self.via = "generic"
        self._watch()
        try:
            await asyncio.to_thread(install_code, plan.code, g.code_dir)
            env = self.ctx.base_env(target, "http-stream")
            env["FN_LISTENER"] = LISTENER
            request = {"env": specialise_env(plan, env), "cwd": CODE_DIR, "argv": plan.argv}
            # The handler runs only once both are done: the call is sent after the
            # memory update has landed and the socket is up.
            resize = None
            if g.memory_mb != self.memory_mb:
                resize = asyncio.ensure_future(self.ctx.driver.update_memory(g.id, self.memory_mb))
            try:
                await send_specialise(self.iofs, request, self.ctx.settings.hot_start_timeout)
            finally:
                if resize is not None:
                    await resize
            await self._ready(t0)
        except (SpecialiseFailed, HotfnError, NotImplementedError) as exc:
            message = exc.message if isinstance(exc, SpecialiseFailed | HotfnError) else str(exc)
            if isinstance(exc, SpecialiseFailed) and exc.loader:
                pools.planner.reject(plan.image_id)  # would fail again: normal starts
            log.warning(
                "specialising %s for fn %s failed (%s); starting from the image",
                g.name, target.fn.name, message,
            )  # fmt: skip
            await self._reset_after_failed_specialise()
            return False
        if self.start_path == "cold":
            self.start_path = "specialized"
        return True

    async def _reset_after_failed_specialise(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.client is not None:
            await self.client.close()
            self.client = None
        with contextlib.suppress(HotfnError):
            await self.ctx.driver.remove(self.id)
        await asyncio.to_thread(_rmtree, self.iofs)
        if self.code_dir is not None:
            await asyncio.to_thread(_rmtree, self.code_dir)
        self.exit = None
        self.exited = asyncio.get_running_loop().create_future()
        self._boot_lines.clear()
        self.name = self.ctx.container_name(self.pool.target.fn.id, "hot")
        self.iofs = self.ctx.iofs_base / os.urandom(6).hex()
        self.code_dir = None
        self.id = ""
        self.via = "image"

    async def _ready(self, t0: float) -> None:
        """Wait for ``lsnr.sock`` (or the container's exit, or the start timeout)."""
        ready = asyncio.ensure_future(wait_for_socket(self.iofs))
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

    async def _watch_exit(self) -> None:
        try:
            status = await self.ctx.driver.wait(self.id)
        except HotfnError as exc:
            status = ExitStatus(running=False, error=exc.message)
        self.exit = status
        if not self.exited.done():
            self.exited.set_result(status)
        if self.state != "gone" and self.state != "starting":
            log.info("container %s exited (%s)", self.name, status)
            self.pool.on_exit(self)

    async def _follow_logs(self) -> None:
        try:
            async for line in self.ctx.driver.logs(self.id):
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

    def begin(self, call_log: CallLog) -> None:
        self.active_logs.append(call_log)

    def end(self, call_log: CallLog) -> None:
        with contextlib.suppress(ValueError):
            self.active_logs.remove(call_log)
        self.last_log = call_log
        self.last_done = time.monotonic()
        self.calls += 1

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
        if self.id:
            try:
                await self.ctx.driver.remove(self.id)
            except HotfnError as exc:
                log.warning("could not remove container %s: %s", self.name, exc)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.to_thread(_rmtree, self.iofs)
        if self.code_dir is not None:
            await asyncio.to_thread(_rmtree, self.code_dir)


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

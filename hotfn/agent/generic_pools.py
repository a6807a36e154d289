"""Warm generic runtime containers, and specialising one into a function's container.

For each runtime in ``Settings.generic_images`` (``python`` → ``hotfn/python``,
``node`` → ``hotfn/node``), the agent keeps ``generic_pool_size`` containers started
with the runtime's loader (``fdk --generic``, :mod:`hotfn.agent.generic_loaders`):
the runtime and FDK are loaded, no function is. They are hardened like every function
container, reserve ``generic_memory_mb`` each in the memory budget (never evicting
anything to do so: the pool only fills free memory, and is the first thing evicted
when a function needs room), and are refilled in the background.

On a cold start of a function whose image qualifies (:mod:`hotfn.agent.specialise`),
:class:`~hotfn.agent.starts.SpecialiseStart` takes one instead of starting a new
container and *specialises* it: the code goes into its ``/function`` mount,
its memory limit becomes the fn's (live update), and the loader gets the fn's
environment and handler; it then binds ``lsnr.sock`` and the ordinary readiness
path takes over. From then on it is that function's container, nobody else's: it is
never returned to the generic pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from hotfn.agent import iofs
from hotfn.agent.generic_loaders import LOADERS
from hotfn.agent.readiness import wait_for_socket
from hotfn.agent.shared import AgentContext, log
from hotfn.agent.specialise import CODE_DIR, LABEL_RUNTIME, Plan, Planner, RuntimeImage
from hotfn.drivers.base import LABEL_FN, ContainerSpec, ExitStatus, Mount
from hotfn.errors import HotfnError

GENERIC_SOCKET = "generic.sock"
_RETRY_S = 5.0  # after a failed generic start, wait this long before trying again

GenericState = Literal["starting", "idle", "taken", "gone"]


class SpecialiseFailed(Exception):
    """The generic container could not become the function (the caller falls back to a
    normal start); ``loader`` is True if the loader itself refused (import error)."""

    def __init__(self, message: str, loader: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.loader = loader


class GenericContainer:
    """One started, not yet specialised runtime container."""

    def __init__(self, pools: GenericPools, runtime: str, image_id: str) -> None:
        ctx = pools.ctx
        self.loader = pools.planner.runtimes[runtime].loader
        self.pools = pools
        self.ctx = ctx
        self.runtime = runtime
        self.image_id = image_id
        self.name = ctx.container_name(runtime, "generic")
        token = os.urandom(6).hex()
        self.iofs = ctx.iofs_base / token
        self.code_dir = ctx.iofs_base / f"{token}-code"
        self.memory_mb = ctx.settings.generic_memory_mb
        self.id = ""
        self.state: GenericState = "starting"
        self.created = time.monotonic()
        self._watch: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<GenericContainer {self.name} {self.state}>"

    def spec(self) -> ContainerSpec:
        labels = self.ctx.container_labels("", "generic")
        del labels[LABEL_FN]  # belongs to no function (yet)
        labels[LABEL_RUNTIME] = self.runtime
        return ContainerSpec(
            name=self.name,
            image=self.image_id,
            env={},
            labels=labels,
            memory_mb=self.memory_mb,
            network_mode=self.ctx.settings.network_mode,
            iofs_dir=self.iofs,
            entrypoint=list(self.loader.command),
            cmd=[],
            mounts=(Mount(self.code_dir, CODE_DIR, read_only=True),),
        )

    async def start(self) -> None:
        """Start it and wait for the loader's socket; raises ``HotfnError``."""
        # The loader runs unprivileged and binds in iofs (a bounded tmpfs: agent/iofs.py).
        await asyncio.to_thread(iofs.make, self.iofs, self.ctx.settings.iofs_tmpfs)
        self.code_dir.mkdir(parents=True, exist_ok=True)
        self.code_dir.chmod(0o755)
        self.id = await self.ctx.driver.start(self.spec())
        exited = asyncio.ensure_future(self.ctx.driver.wait(self.id))
        ready = asyncio.ensure_future(wait_for_socket(self.iofs, GENERIC_SOCKET))
        try:
            done, _ = await asyncio.wait(
                {ready, exited},
                timeout=self.ctx.settings.hot_start_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            ready.cancel()
            with contextlib.suppress(asyncio.CancelledError, HotfnError):
                await ready
        if ready not in done or exited.done():
            exited.cancel()
            with contextlib.suppress(asyncio.CancelledError, HotfnError):
                await exited
            raise HotfnError(f"generic {self.runtime} container did not become ready")
        self._watch = asyncio.create_task(self._watch_exit(exited))

    async def _watch_exit(self, exited: asyncio.Future[ExitStatus]) -> None:
        with contextlib.suppress(HotfnError):
            status = await exited
            if self.state == "idle":
                log.info("generic container %s exited (%s)", self.name, status)
                self.pools.on_exit(self)

    def detach(self) -> None:
        """Handed over to a function: stop watching (its HotContainer watches now)."""
        self.state = "taken"
        if self._watch is not None:
            self._watch.cancel()

    async def remove(self) -> None:
        self.state = "gone"
        if self._watch is not None:
            self._watch.cancel()
        if self.id:
            try:
                await self.ctx.driver.remove(self.id)
            except HotfnError as exc:
                log.warning("could not remove container %s: %s", self.name, exc)
        await asyncio.to_thread(iofs.remove, self.iofs)
        await asyncio.to_thread(shutil.rmtree, self.code_dir, True)


class GenericPools:
    """The warm generic containers of every runtime, and the planner that decides
    which functions may use them."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.size = max(0, ctx.settings.generic_pool_size)
        cache = (ctx.settings.data_dir / "fncode").resolve()
        self.planner = Planner(ctx, cache)
        self.idle: dict[str, list[GenericContainer]] = {}
        self.starting: dict[str, int] = {}
        self.all: set[GenericContainer] = set()
        self.taken = 0  # specialisations so far (introspection, tests)
        self._paused_until: dict[str, float] = {}
        self._open = False

    async def start(self) -> None:
        """Find the runtime images (a missing one is skipped) and fill the pools."""
        if self.size == 0:
            return
        for runtime, image in self.ctx.settings.generic_images.items():
            loader = LOADERS.get(runtime)
            if loader is None:
                log.warning("no warm %s containers: hotfn has no generic loader for it", runtime)
                continue
            try:
                info = await self.ctx.driver.inspect_image(image)
                steps = len(await self.ctx.driver.image_history(info.id))
            except HotfnError as exc:
                log.info("no warm %s containers: %s", runtime, exc.message)
                continue
            self.planner.runtimes[runtime] = RuntimeImage(image, info, steps, loader)
            self.idle[runtime] = []
            self.starting[runtime] = 0
        self._open = True
        self.refill()

    def refill(self) -> None:
        """Start containers up to the pool size where free memory allows (no eviction)."""
        if not self._open:
            return
        now = time.monotonic()
        for runtime, rt in self.planner.runtimes.items():
            if now < self._paused_until.get(runtime, 0.0):
                continue
            while len(self.idle[runtime]) + self.starting[runtime] < self.size:
                mb = self.ctx.settings.generic_memory_mb
                if not self.ctx.budget.try_reserve(mb):  # free memory only, never evicting
                    return
                self.starting[runtime] += 1
                g = GenericContainer(self, runtime, rt.info.id)
                self.all.add(g)
                self.ctx.spawn(self._start(g))

    async def _start(self, g: GenericContainer) -> None:
        try:
            await g.start()
        except BaseException as exc:
            self.starting[g.runtime] -= 1
            self._drop(g)
            self.ctx.spawn(g.remove())
            if isinstance(exc, HotfnError):
                log.warning("generic %s container failed to start: %s", g.runtime, exc.message)
                self._paused_until[g.runtime] = time.monotonic() + _RETRY_S
                return
            raise
        self.starting[g.runtime] -= 1
        if not self._open:
            self._drop(g)
            self.ctx.spawn(g.remove())
            return
        g.state = "idle"
        self.idle[g.runtime].append(g)

    def _drop(self, g: GenericContainer) -> None:
        """Forget ``g`` and release its memory (unless a function took it over)."""
        if g in self.all:
            self.all.discard(g)
            if g.state != "taken":
                self.ctx.budget.release(g.memory_mb)
        with contextlib.suppress(ValueError):
            self.idle.get(g.runtime, []).remove(g)

    def take(self, runtime: str) -> GenericContainer | None:
        """An idle generic container of ``runtime`` for one function, or None. Its
        memory reservation ends here: the function's container reserved its own."""
        idle = self.idle.get(runtime)
        while idle:
            g = idle.pop()
            if g.state != "idle":
                continue
            self.ctx.budget.release(g.memory_mb)
            g.detach()
            self.all.discard(g)
            self.taken += 1
            self.refill()
            return g
        return None

    def on_exit(self, g: GenericContainer) -> None:
        self._drop(g)
        self.ctx.spawn(g.remove())
        self._paused_until[g.runtime] = time.monotonic() + _RETRY_S

    def evict(self, needed_mb: int) -> int:
        """Free memory for functions: idle generic containers go first."""
        freed = 0
        for idle in self.idle.values():
            while idle and freed < needed_mb:
                g = idle.pop(0)
                freed += g.memory_mb
                self._drop(g)
                self.ctx.spawn(g.remove())
        return freed

    def housekeeping(self) -> None:
        self.refill()

    async def shutdown(self) -> None:
        self._open = False
        for g in list(self.all):
            self._drop(g)
            await g.remove()


def specialise_env(plan: Plan, env: Mapping[str, str]) -> dict[str, str]:
    """The function's environment: its image's ENV, then the agent's on top (as the
    engine would build it for a container of the image)."""
    out: dict[str, str] = {}
    for item in plan.env:
        key, sep, value = item.partition("=")
        if sep:
            out[key] = value
    out.update(env)
    return out


async def send_specialise(iofs: Path, request: dict[str, Any], wait_s: float) -> None:
    """Send the loader its function; raises :class:`SpecialiseFailed`."""
    try:
        async with asyncio.timeout(wait_s):
            reader, writer = await asyncio.open_unix_connection(str(iofs / GENERIC_SOCKET))
            try:
                writer.write(json.dumps(request).encode() + b"\n")
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError) as exc:
        raise SpecialiseFailed(f"generic loader unreachable: {exc}") from None
    try:
        reply = json.loads(line)
    except ValueError:
        raise SpecialiseFailed("generic loader gave no answer (it may have died)") from None
    if not isinstance(reply, dict) or not reply.get("ok"):
        error = reply.get("error") if isinstance(reply, dict) else None
        raise SpecialiseFailed(f"the loader could not load the handler: {error}", loader=True)

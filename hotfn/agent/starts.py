"""How a hot container comes to run: start strategies.

A :class:`~hotfn.agent.container.HotContainer` tries its pool's strategies in order
and runs where the first one places it:

- :class:`SpecialiseStart` takes a warm generic runtime container
  (:mod:`hotfn.agent.generic_pools`) and specialises it into the fn's, when the fn's image
  allows it (:mod:`hotfn.agent.specialise`); it declines (None) when it cannot, and a
  specialisation that fails is undone here, so the container never sees it;
- :class:`ImageStart` starts a new container from the fn's image (always places).

Either way the result is a :class:`Placement`: which engine container, its iofs
directory, and (when the strategy already waited for it) its ready socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hotfn.agent import iofs as iofs_dir
from hotfn.agent.generic_pools import (
    GenericContainer,
    GenericPools,
    SpecialiseFailed,
    send_specialise,
    specialise_env,
)
from hotfn.agent.pulling import pulled_ms
from hotfn.agent.readiness import SOCKET_NAME, wait_for_socket
from hotfn.agent.shared import AgentContext, log
from hotfn.agent.specialise import CODE_DIR, install_code
from hotfn.drivers.base import IOFS_MOUNT, ContainerSpec
from hotfn.errors import HotfnError
from hotfn.types import Target

LISTENER = f"unix:{IOFS_MOUNT}/{SOCKET_NAME}"


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a hot container runs. ``via``: ``"image"`` or ``"generic"``; ``socket``:
    its ``lsnr.sock`` if the strategy already saw it ready, else None (the container
    waits for it); ``code_dir``: the host side of a specialised one's ``/function``."""

    id: str
    name: str
    iofs: Path
    via: str
    code_dir: Path | None = None
    socket: Path | None = None
    pulled_ms: float = 0.0  # the start waited this long for an image pull


class StartStrategy(Protocol):
    async def start(self, target: Target, memory_mb: int) -> Placement | None:
        """Place one container of ``target``, or None to let the next strategy try.
        Raises ``HotfnError`` when the start failed (nothing left behind)."""
        ...


def hot_env(ctx: AgentContext, target: Target) -> dict[str, str]:
    """The environment of a hot container of ``target``."""
    env = ctx.base_env(target, "http-stream")
    env["FN_LISTENER"] = LISTENER
    return env


class ImageStart:
    """Start a new container from the fn's image."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx

    async def start(self, target: Target, memory_mb: int) -> Placement:
        ctx = self.ctx
        name = ctx.container_name(target.fn.id, "hot")
        iofs = ctx.iofs_base / os.urandom(6).hex()
        # The FDK runs as an unprivileged user and must create its socket here; a
        # small tmpfs bounds what the function can write there (hotfn.agent.iofs).
        await asyncio.to_thread(iofs_dir.make, iofs, ctx.settings.iofs_tmpfs)
        spec = ContainerSpec(
            name=name,
            image=target.fn.image,
            env=hot_env(ctx, target),
            labels=ctx.container_labels(target.fn.id, "hot"),
            memory_mb=memory_mb,
            network_mode=ctx.network_mode(target),
            iofs_dir=iofs,
        )
        try:
            container_id = await ctx.driver.start(spec)
        except BaseException:
            await asyncio.to_thread(iofs_dir.remove, iofs)
            raise
        return Placement(
            container_id, name, iofs, "image", pulled_ms=pulled_ms(ctx.driver, container_id)
        )


class SpecialiseStart:
    """Become the fn's container by specialising a warm generic one."""

    def __init__(self, ctx: AgentContext, generic: GenericPools) -> None:
        self.ctx = ctx
        self.generic = generic

    async def start(self, target: Target, memory_mb: int) -> Placement | None:
        plan = await self.generic.planner.plan(target)
        g = self.generic.take(plan.runtime) if plan is not None else None
        if plan is None or g is None:
            return None
        try:
            await asyncio.to_thread(install_code, plan.code, g.code_dir)
            env = specialise_env(plan, hot_env(self.ctx, target))
            request = {"env": env, "cwd": CODE_DIR, "argv": plan.argv}
            # The handler runs only once both are done: the call is sent after the
            # memory update has landed and the socket is up.
            resize = None
            if g.memory_mb != memory_mb:
                resize = asyncio.ensure_future(self.ctx.driver.update_memory(g.id, memory_mb))
            try:
                await send_specialise(g.iofs, request, self.ctx.settings.hot_start_timeout)
            finally:
                if resize is not None:
                    await resize
            socket = await self._ready(g)
        except (SpecialiseFailed, HotfnError, NotImplementedError) as exc:
            message = exc.message if isinstance(exc, SpecialiseFailed | HotfnError) else str(exc)
            if isinstance(exc, SpecialiseFailed) and exc.loader:
                self.generic.planner.reject(plan.image_id)  # would fail again: image starts
            log.warning(
                "specialising %s for fn %s failed (%s); starting from the image",
                g.name, target.fn.name, message,
            )  # fmt: skip
            await _discard(self.ctx, g)
            return None
        except BaseException:
            self.ctx.spawn(_discard(self.ctx, g))  # cancelled: still clean up
            raise
        return Placement(g.id, g.name, g.iofs, "generic", g.code_dir, socket)

    async def _ready(self, g: GenericContainer) -> Path:
        """The socket of the specialised function, or ``SpecialiseFailed`` if it exits
        or does not bind within the start timeout."""
        ready = asyncio.ensure_future(wait_for_socket(g.iofs))
        exited = asyncio.ensure_future(self.ctx.driver.wait(g.id))
        either: set[asyncio.Future[Any]] = {ready, exited}
        try:
            done, _ = await asyncio.wait(
                either,
                timeout=self.ctx.settings.hot_start_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for fut in either:
                if not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError, HotfnError):
                        await fut
        if ready in done:
            return ready.result()  # raises ContainerInitFailed on a bad symlink
        if exited in done:
            exited.exception()  # mark it seen: an engine error means the same here
            raise SpecialiseFailed("the specialised container exited before it was ready")
        raise SpecialiseFailed("the specialised function did not bind its socket in time")


async def _discard(ctx: AgentContext, g: GenericContainer) -> None:
    with contextlib.suppress(HotfnError):
        await ctx.driver.remove(g.id)
    await asyncio.to_thread(iofs_dir.remove, g.iofs)
    await asyncio.to_thread(shutil.rmtree, g.code_dir, True)

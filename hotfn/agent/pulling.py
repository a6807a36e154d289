"""Pull on demand: a :class:`~hotfn.drivers.base.Driver` that pulls what the engine
lacks before it starts a container.

:class:`PullingDriver` wraps the real driver. Every container start (hot, once-per-
call, provisioned, warm generic) that fails with ``ImageNotFound`` pulls the image
through the shared :class:`~hotfn.agent.images.ImagePuller` (one pull however many
starts wait) and tries once more; so the agent's start paths need no pull logic of
their own, and a start's measured time includes the pull. Everything else is passed
through unchanged.

Which credentials a pull sends is decided per fn: the name of the credential set
(annotation ``hotfn.io/registry-auth``, the fn's or its app's) of the fn named by
the container's label. Once attached to the configuration cache
(:meth:`PullingDriver.attach`), a fn created or changed with a missing image is
pulled in the background (its first call need not wait), and pulled images unused
for a while are removed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Coroutine, Mapping
from pathlib import Path
from typing import Any

from hotfn.agent.images import ImagePuller
from hotfn.body import Pipe, Reader
from hotfn.drivers.base import (
    LABEL_FN,
    ContainerSpec,
    DefaultFormatResult,
    Driver,
    ExitStatus,
    HistoryEntry,
    ImageInfo,
    LogLine,
)
from hotfn.drivers.registry import AUTH_ANNOTATION, RegistryAuth
from hotfn.errors import HotfnError, ImageNotFound
from hotfn.store.cache import ConfigCache
from hotfn.types import Target

log = logging.getLogger(__name__)
GC_EVERY_S = 60.0


class PullingDriver:
    """``inner`` with pull-on-demand starts (see the module docs)."""

    def __init__(self, inner: Driver, puller: ImagePuller) -> None:
        self.inner = inner
        self.puller = puller
        self._cache: ConfigCache | None = None
        self._images: dict[str, str] = {}  # live container id → its image
        self.pulled_ms: dict[str, float] = {}  # container id → pull it waited for
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, cache: ConfigCache) -> None:
        """Read credential names from ``cache``, prefetch the images of changed fns,
        and (if ``HOTFN_IMAGE_GC_AFTER`` is set) remove long-unused pulled images."""
        self._cache = cache
        cache.add_listener(self._fn_changed)
        if self.puller.gc_after > 0:
            self._spawn(self._collect_forever())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _target(self, fn_id: str) -> Target | None:
        if self._cache is None:
            return None
        try:
            return await self._cache.target(fn_id)
        except HotfnError:
            return None  # deleted meanwhile

    @staticmethod
    def _auth_name(target: Target | None) -> str | None:
        value = target.annotation(AUTH_ANNOTATION) if target else None
        return str(value) if value else None

    async def _pull_for(self, spec: ContainerSpec, missing: ImageNotFound) -> float:
        """Pull the image a start found ``missing``; the seconds waited. An image from
        a registry pulls may not reach stays missing (``missing`` is raised)."""
        if not self.puller.allows(spec.image):
            raise missing
        fn_id = spec.labels.get(LABEL_FN)
        target = await self._target(fn_id) if fn_id else None
        return await self.puller.pull(spec.image, self._auth_name(target))

    def _fn_changed(self, fn_id: str) -> None:
        self._spawn(self._prefetch(fn_id))

    async def _prefetch(self, fn_id: str) -> None:
        target = await self._target(fn_id)
        if target is not None:
            self.puller.prefetch(target.fn.image, self._auth_name(target))

    async def _collect_forever(self) -> None:
        every = min(GC_EVERY_S, max(self.puller.gc_after / 2, 1.0))
        while True:
            await asyncio.sleep(every)
            try:
                await self.puller.collect(self.in_use())
            except HotfnError as exc:
                log.warning("removing unused images failed: %s", exc.message)

    def in_use(self) -> set[str]:
        """Images of the containers started through this driver and not removed."""
        return set(self._images.values())

    # -- starts: pull what is missing, once, then start ----------------------------

    async def start(self, spec: ContainerSpec) -> str:
        waited = 0.0
        try:
            cid = await self.inner.start(spec)
        except ImageNotFound as missing:
            waited = await self._pull_for(spec, missing)
            cid = await self.inner.start(spec)
        self._started(cid, spec, waited)
        return cid

    async def run_default_format(
        self,
        spec: ContainerSpec,
        stdin: bytes,
        time_limit: float,
        stderr_limit: int = 64 * 1024,
        stdout: Pipe | None = None,
        stdin_rest: Reader | None = None,
    ) -> DefaultFormatResult:
        self.puller.used(spec.image)
        run = self.inner.run_default_format
        try:
            return await run(spec, stdin, time_limit, stderr_limit, stdout, stdin_rest)
        except ImageNotFound as missing:
            waited = await self._pull_for(spec, missing)
        result = await run(spec, stdin, time_limit, stderr_limit, stdout, stdin_rest)
        # The caller's start time is the pull plus the container's start.
        pulled = waited * 1000
        return dataclasses.replace(result, start_ms=result.start_ms + pulled, pulled_ms=pulled)

    def _started(self, cid: str, spec: ContainerSpec, waited: float) -> None:
        self._images[cid] = spec.image
        self.puller.used(spec.image)
        if waited:
            self.pulled_ms[cid] = waited * 1000

    async def remove(self, container_id: str) -> None:
        await self.inner.remove(container_id)
        self._images.pop(container_id, None)
        self.pulled_ms.pop(container_id, None)

    # -- everything else: as the engine does it ------------------------------------

    async def ping(self) -> None:
        await self.inner.ping()

    async def inspect_image(self, image: str) -> ImageInfo:
        return await self.inner.inspect_image(image)

    async def pull(self, image: str, auth: RegistryAuth | None = None) -> None:
        await self.inner.pull(image, auth)

    async def remove_image(self, image: str) -> bool:
        return await self.inner.remove_image(image)

    async def image_exists(self, image: str) -> bool:
        return await self.inner.image_exists(image)

    async def wait(self, container_id: str) -> ExitStatus:
        return await self.inner.wait(container_id)

    async def inspect(self, container_id: str) -> ExitStatus:
        return await self.inner.inspect(container_id)

    def logs(self, container_id: str) -> AsyncIterator[LogLine]:
        return self.inner.logs(container_id)

    async def kill(self, container_id: str, signal: str = "SIGKILL") -> None:
        await self.inner.kill(container_id, signal)

    async def list_labelled(self, labels: Mapping[str, str]) -> list[str]:
        return await self.inner.list_labelled(labels)

    async def remove_labelled(self, labels: Mapping[str, str]) -> int:
        return await self.inner.remove_labelled(labels)

    async def update_memory(self, container_id: str, memory_mb: int) -> None:
        await self.inner.update_memory(container_id, memory_mb)

    async def image_history(self, image: str) -> list[HistoryEntry]:
        return await self.inner.image_history(image)

    async def export_dir(
        self, image: str, path: str, dest: Path, labels: Mapping[str, str] | None = None
    ) -> None:
        await self.inner.export_dir(image, path, dest, labels)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.puller.close()
        await self.inner.close()


def pulled_ms(driver: Driver, container_id: str) -> float:
    """How long the start of ``container_id`` waited for its image to be pulled (0: it
    was present, or ``driver`` does not pull)."""
    if isinstance(driver, PullingDriver):
        return driver.pulled_ms.get(container_id, 0.0)
    return 0.0

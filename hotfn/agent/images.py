"""Images the engine lacks: pulled once, however many calls and pools wait for them.

:class:`ImagePuller` sits between the agent and :meth:`Driver.pull`:

- **One pull per image.** Every caller that needs an image while it is being pulled
  waits for the same pull (keyed by image and credential set). A caller that gives
  up (its call was cancelled) does not cancel the pull for the others.
- **Bounded.** A pull that has not finished within ``timeout`` seconds fails with
  a message that says how to raise the bound.
- **Failures fail fast.** A failed pull is remembered for ``retry_after`` seconds:
  calls in that window get the same error at once, naming the registry's reason,
  instead of each starting a pull of its own against a registry that said no.
- **Only from allowed registries.** ``pull_from`` (``HOTFN_PULL_FROM``) lists the
  registries pulls may reach, as fnmatch patterns of ``host[:port]``; an image from
  any other stays missing, with the engine's own error.
- **Space.** Images this server pulled and no container has used for
  ``gc_after`` seconds can be removed (:meth:`collect`); images built on this
  machine are never touched (nothing could bring them back).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from hotfn.config import Settings
from hotfn.drivers.base import Driver
from hotfn.drivers.registry import Credentials, registry_of
from hotfn.errors import ImagePullFailed
from hotfn.metrics import REGISTRY

log = logging.getLogger(__name__)

PULLS = Counter(
    "hotfn_image_pulls_total", "Image pulls by result (ok, failed).", ["result"],
    registry=REGISTRY,
)  # fmt: skip
PULL_SECONDS = Histogram(
    "hotfn_image_pull_seconds", "Time an image pull took, successful or not.",
    registry=REGISTRY, buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)  # fmt: skip
PULL_FAILURES = Counter(
    "hotfn_image_pull_failures_total",
    "Failed image pulls by reason (not_found, unauthorized, unreachable, timeout, other).",
    ["reason"], registry=REGISTRY,
)  # fmt: skip

Key = tuple[str, str | None]  # (image, credential set name)


@dataclass(frozen=True)
class _Failure:
    error: ImagePullFailed
    until: float  # monotonic time after which a new pull may be tried


class ImagePuller:
    """Single-flight, bounded, negatively cached pulls (see the module docs)."""

    def __init__(
        self,
        driver: Driver,
        credentials: Credentials,
        *,
        timeout: float = 300.0,
        retry_after: float = 10.0,
        gc_after: float = 0.0,
        pull_from: Iterable[str] = ("*",),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.driver = driver
        self.credentials = credentials
        self.timeout = timeout
        self.retry_after = retry_after
        self.gc_after = gc_after
        self.pull_from = tuple(pull_from)
        self._clock = clock
        self._inflight: dict[Key, asyncio.Task[None]] = {}
        self._failed: dict[Key, _Failure] = {}
        self._pulled: dict[str, float] = {}  # image → last used (pulled by us)
        self._background: set[asyncio.Task[object]] = set()

    def allows(self, image: str) -> bool:
        """Whether ``image``'s registry is one pulls may reach (``pull_from``)."""
        host = registry_of(image)
        return any(fnmatch.fnmatchcase(host, pattern) for pattern in self.pull_from)

    async def pull(self, image: str, auth_name: str | None = None) -> float:
        """Pull ``image`` (or wait for the pull already under way); return the
        seconds this caller waited. Raises ``ImagePullFailed``."""
        key = (image, auth_name)
        failure = self._failed.get(key)
        if failure is not None:
            left = failure.until - self._clock()
            if left > 0:
                raise ImagePullFailed(
                    f"{failure.error.message} (not retried for another {left:.0f} s)",
                    reason=failure.error.reason,
                )
            del self._failed[key]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._pull(key), name=f"pull {image}")
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._settled(key, t))
        began = time.perf_counter()
        # shield: a caller cancelled while waiting must not cancel everyone's pull.
        await asyncio.shield(task)
        return time.perf_counter() - began

    def _settled(self, key: Key, task: asyncio.Task[None]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter may have given up

    async def ensure(self, image: str, auth_name: str | None = None) -> float:
        """Make sure the engine has ``image``; the seconds spent pulling (0: present)."""
        if await self.driver.image_exists(image):
            return 0.0
        return await self.pull(image, auth_name)

    def prefetch(self, image: str, auth_name: str | None = None) -> None:
        """Pull ``image`` in the background if it is missing (a fn was created or
        updated): its first call then need not wait. Failures are logged only."""
        task = asyncio.create_task(self._prefetch(image, auth_name), name=f"prefetch {image}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _prefetch(self, image: str, auth_name: str | None) -> None:
        if not self.allows(image):
            return
        with contextlib.suppress(ImagePullFailed):
            await self.ensure(image, auth_name)

    async def _pull(self, key: Key) -> None:
        image, auth_name = key
        began = time.perf_counter()
        try:
            auth = await self.credentials.for_image(image, auth_name)
            async with asyncio.timeout(self.timeout):
                await self.driver.pull(image, auth)
        except TimeoutError:
            error = ImagePullFailed(
                f"pulling image {image}: registry {registry_of(image)} did not deliver it "
                f"within {self.timeout:g} s (raise HOTFN_PULL_TIMEOUT for large images)",
                reason="timeout",
            )
            self._fail(key, error, began)
            raise error from None
        except ImagePullFailed as exc:
            self._fail(key, exc, began)
            raise
        PULL_SECONDS.observe(time.perf_counter() - began)
        PULLS.labels("ok").inc()
        self._pulled[image] = self._clock()
        log.info("pulled image %s in %.2f s", image, time.perf_counter() - began)

    def _fail(self, key: Key, error: ImagePullFailed, began: float) -> None:
        PULL_SECONDS.observe(time.perf_counter() - began)
        PULLS.labels("failed").inc()
        PULL_FAILURES.labels(error.reason).inc()
        self._failed[key] = _Failure(error, self._clock() + self.retry_after)
        log.warning("%s", error.message)

    def used(self, image: str) -> None:
        """Note that a container of ``image`` started (keeps it from :meth:`collect`)."""
        if image in self._pulled:
            self._pulled[image] = self._clock()

    async def collect(self, in_use: Iterable[str]) -> list[str]:
        """Remove pulled images unused for ``gc_after`` seconds and not in ``in_use``
        (the images of live containers and of fns that may run); return them."""
        if self.gc_after <= 0:
            return []
        keep = set(in_use)
        cutoff = self._clock() - self.gc_after
        removed = []
        for image, last in list(self._pulled.items()):
            if image in keep or last > cutoff or (image, None) in self._inflight:
                continue
            if await self.driver.remove_image(image):
                removed.append(image)
                del self._pulled[image]
                log.info("removed image %s: unused for %.0f s", image, self.gc_after)
            else:  # a container (not ours to judge) still holds it: look again later
                self._pulled[image] = self._clock()
        return removed

    async def close(self) -> None:
        """Stop background prefetches (pulls that calls wait for finish with them)."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)


def puller_for(driver: Driver, settings: Settings) -> ImagePuller:
    """The puller a server with ``settings`` uses."""
    return ImagePuller(
        driver,
        Credentials(settings.docker_config_path(), settings.registry_auth_path()),
        timeout=settings.pull_timeout,
        retry_after=settings.pull_retry_after,
        gc_after=settings.image_gc_after,
        pull_from=settings.pull_from,
    )

"""The containers of one hot pool: starting them, holding their memory, removing them.

A pool schedules calls onto containers; its fleet owns their existence. The fleet
starts a container (its memory already reserved in the budget), and reports back to
the pool only through the callbacks it was made with: ``ready`` when a container can
take calls, ``failed`` when a start did not work, ``exited`` when a running container
stopped on its own. It never looks at the pool's queue or free list.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from hotfn.agent.container import HotContainer
from hotfn.agent.growth import Growth
from hotfn.agent.metrics import FnMetrics
from hotfn.agent.shared import AgentContext, int_setting, log
from hotfn.agent.starts import StartStrategy
from hotfn.errors import HotfnError
from hotfn.types import ANNOTATION_PROVISIONED, Target


class Fleet:
    """Started and starting containers of one ``Target`` configuration."""

    def __init__(
        self,
        target: Target,
        ctx: AgentContext,
        starts: Sequence[StartStrategy],
        metrics: FnMetrics,
        growth: Growth,
        *,
        max_containers: int,
        ready: Callable[[HotContainer], None],
        failed: Callable[[HotfnError], None],
        exited: Callable[[HotContainer], None],
    ) -> None:
        self.target = target
        self.ctx = ctx
        self.starts = starts
        self.metrics = metrics
        self.growth = growth
        self._ready = ready
        self._failed = failed
        self._exited = exited
        self.max_containers = max_containers
        # Containers kept started at all times (hotfn.io/provisioned), whatever the
        # keep-alive policy says; replaced when they die.
        self.provisioned = int_setting(
            target.annotation(ANNOTATION_PROVISIONED), 0, 0, max_containers
        )
        self.containers: set[HotContainer] = set()  # starting, idle or busy
        self.starting = 0
        self._wake: Callable[[], None] | None = None  # waiting for memory

    def __len__(self) -> int:
        return len(self.containers)

    def __iter__(self) -> Iterator[HotContainer]:
        return iter(self.containers)

    def reserve(self, wake: Callable[[], None] | None = None) -> bool:
        """Reserve one container's memory (evicting others' idle containers if the
        agent can). If it cannot, and ``wake`` is given, ``wake`` is called once
        memory is freed (one listener at a time)."""
        if self.ctx.reserve(self.target.fn.memory, self):
            return True
        if wake is not None and self._wake is None:
            self._wake = wake
            self.ctx.budget.listen(self._memory_freed)
        return False

    def _memory_freed(self) -> None:
        self.ctx.budget.unlisten(self._memory_freed)
        wake, self._wake = self._wake, None
        if wake is not None:
            wake()

    def launch(self, start_path: str) -> HotContainer:
        """Start one container (its memory already reserved) in the background."""
        self.starting += 1
        c = HotContainer(self.target, self.ctx, self.starts, self._exited, start_path)
        self.containers.add(c)
        self.ctx.spawn(self._start(c))
        return c

    def start_ahead(self, start_path: str) -> bool:
        """Start a container before any call needs it (provisioned, pre-warmed);
        False if the fleet is full or no memory can be freed for it."""
        if len(self.containers) >= self.max_containers or not self.reserve():
            return False
        self.launch(start_path)
        return True

    def ensure_provisioned(self) -> None:
        """Top up to ``hotfn.io/provisioned`` started containers."""
        while len(self.containers) < self.provisioned:
            if not self.start_ahead("provisioned"):
                return

    async def _start(self, c: HotContainer) -> None:
        try:
            await c.start()
        except BaseException as exc:
            self.starting -= 1
            self.forget(c)
            self.ctx.spawn(c.remove())
            if isinstance(exc, HotfnError):
                log.warning("start of %s failed: %s", c.name, exc.message)
                self._failed(exc)
                return
            raise
        self.starting -= 1
        start_s = c.start_ms / 1000
        self.metrics.started("http-stream", c.start_path, start_s)
        self.growth.started(start_s)
        c.state = "idle"
        c.last_used = time.monotonic()
        self._ready(c)

    def forget(self, c: HotContainer) -> None:
        """Drop ``c`` from the fleet and give its memory back (once)."""
        if c in self.containers:
            self.containers.discard(c)
            self.ctx.budget.release(c.memory_mb)

    def remove(self, c: HotContainer) -> None:
        """Forget ``c`` now and remove it from the engine in the background."""
        self.forget(c)
        self.ctx.spawn(c.remove())

    def ready_count(self) -> int:
        """Containers started and able to take calls (idle or busy)."""
        return sum(1 for c in self.containers if c.state in ("idle", "busy"))

    def counts(self) -> dict[str, int]:
        """Containers by state, for metrics."""
        out = {"starting": 0, "idle": 0, "busy": 0}
        for c in self.containers:
            if c.state in out:
                out[c.state] += 1
        return out

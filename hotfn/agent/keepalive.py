"""Keep-alive policies: how long an idle hot container is kept, and when to pre-warm.

A policy is consulted by the agent's housekeeping tick, never on the call path (the
call path only reports idle times, a counter increment). Two policies:

- :class:`FixedKeepAlive`: keep a container for its fn's ``idle_timeout`` (Fn's rule);
- :class:`AdaptiveKeepAlive` (the default, ``Settings.keepalive_policy``): the hybrid
  histogram policy of :mod:`hotfn.agent.histogram` per fn, falling back to
  ``idle_timeout`` while there is too little history or the pattern is irregular; a
  fn can opt out with the annotation ``hotfn.io/keepalive: fixed``.

Provisioned containers (``hotfn.io/provisioned``) are kept by the pool whatever the
policy says.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from hotfn.agent.histogram import HybridPolicy, Windows
from hotfn.types import ANNOTATION_KEEPALIVE

if TYPE_CHECKING:
    from hotfn.agent.container import HotContainer
    from hotfn.agent.pool import HotPool

KEEPALIVE_MODES = ("adaptive", "fixed")


class KeepAlivePolicy(Protocol):
    """Decides which idle containers of a pool to retire."""

    def should_retire(self, pool: HotPool, container: HotContainer, idle_s: float) -> bool:
        """True to stop ``container``, idle for ``idle_s`` seconds, now."""
        ...

    def observe_idle(self, pool: HotPool, idle_s: float) -> None:
        """Told how long the fn was idle (no call running) when a call arrives."""
        ...


@runtime_checkable
class PrewarmingPolicy(Protocol):
    """A policy that may also ask for a container ahead of the next call."""

    def prewarm_due(self, pool: HotPool, idle_s: float) -> bool:
        """True to start a container now: the fn has been idle ``idle_s`` seconds
        and has no container."""
        ...


class FixedKeepAlive:
    """Retire a container idle for longer than its fn's ``idle_timeout`` (Fn's rule)."""

    def should_retire(self, pool: HotPool, container: HotContainer, idle_s: float) -> bool:
        return idle_s >= pool.target.fn.idle_timeout

    def observe_idle(self, pool: HotPool, idle_s: float) -> None:
        return None


class AdaptiveKeepAlive:
    """The hybrid histogram policy per fn (see :mod:`hotfn.agent.histogram`).

    ``default_mode`` applies to fns without the ``hotfn.io/keepalive`` annotation.
    Idle times are recorded for every fn (so switching a fn to adaptive starts with
    history); the histograms are bounded in size and number.
    """

    def __init__(self, policy: HybridPolicy | None = None, default_mode: str = "adaptive") -> None:
        self.policy = policy or HybridPolicy()
        self.default_mode = default_mode if default_mode in KEEPALIVE_MODES else "adaptive"

    def mode(self, pool: HotPool) -> str:
        value = pool.target.annotation(ANNOTATION_KEEPALIVE)
        return value if value in KEEPALIVE_MODES else self.default_mode

    def windows(self, pool: HotPool) -> Windows:
        fixed = float(pool.target.fn.idle_timeout)
        if self.mode(pool) == "fixed":
            return Windows(0.0, fixed, "fixed")
        return self.policy.windows(pool.target.fn.id, fixed)

    def observe_idle(self, pool: HotPool, idle_s: float) -> None:
        self.policy.observe_idle(pool.target.fn.id, idle_s)

    def should_retire(self, pool: HotPool, container: HotContainer, idle_s: float) -> bool:
        # The fn's idleness, not the container's: with several containers, the
        # surplus ones are retired by their own idle time under the fixed rule.
        w = self.windows(pool)
        if w.mode == "fixed":
            return idle_s >= w.keepalive_s
        prewarmed = container.start_path == "prewarmed" and container.calls == 0
        if prewarmed:
            # Its window counts from the fn's last call, not from its own start.
            idle_s = time.monotonic() - pool.last_used
        return not w.keep(idle_s, prewarmed)

    def prewarm_due(self, pool: HotPool, idle_s: float) -> bool:
        return self.windows(pool).prewarm_due(idle_s)

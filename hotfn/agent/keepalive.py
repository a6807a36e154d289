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

from typing import Protocol

from hotfn.agent.histogram import HybridPolicy, Windows
from hotfn.types import ANNOTATION_KEEPALIVE, Target

KEEPALIVE_MODES = ("adaptive", "fixed")


class KeepAlivePolicy(Protocol):
    """Decides which idle containers of a fn to retire, and when to pre-warm one.

    It is told plain facts (the fn's configuration and idle times), never handed
    pools or containers.
    """

    def should_retire(
        self, target: Target, idle_s: float, fn_idle_s: float, unused_prewarm: bool
    ) -> bool:
        """True to stop a container idle for ``idle_s`` seconds now; ``fn_idle_s``: how
        long the fn has had no call running; ``unused_prewarm``: it was pre-warmed
        and has served no call yet."""
        ...

    def observe_idle(self, target: Target, idle_s: float) -> None:
        """Told how long the fn was idle (no call running) when a call arrives."""
        ...

    def prewarm_due(self, target: Target, idle_s: float) -> bool:
        """True to start a container now: the fn has been idle ``idle_s`` seconds
        and has no container."""
        ...


class FixedKeepAlive:
    """Retire a container idle for longer than its fn's ``idle_timeout`` (Fn's rule);
    never pre-warm."""

    def should_retire(
        self, target: Target, idle_s: float, fn_idle_s: float, unused_prewarm: bool
    ) -> bool:
        return idle_s >= target.fn.idle_timeout

    def observe_idle(self, target: Target, idle_s: float) -> None:
        return None

    def prewarm_due(self, target: Target, idle_s: float) -> bool:
        return False


class AdaptiveKeepAlive:
    """The hybrid histogram policy per fn (see :mod:`hotfn.agent.histogram`).

    ``default_mode`` applies to fns without the ``hotfn.io/keepalive`` annotation.
    Idle times are recorded for every fn (so switching a fn to adaptive starts with
    history); the histograms are bounded in size and number.
    """

    def __init__(self, policy: HybridPolicy | None = None, default_mode: str = "adaptive") -> None:
        self.policy = policy or HybridPolicy()
        self.default_mode = default_mode if default_mode in KEEPALIVE_MODES else "adaptive"

    def mode(self, target: Target) -> str:
        value = target.annotation(ANNOTATION_KEEPALIVE)
        return value if value in KEEPALIVE_MODES else self.default_mode

    def windows(self, target: Target) -> Windows:
        fixed = float(target.fn.idle_timeout)
        if self.mode(target) == "fixed":
            return Windows(0.0, fixed, "fixed")
        return self.policy.windows(target.fn.id, fixed)

    def observe_idle(self, target: Target, idle_s: float) -> None:
        self.policy.observe_idle(target.fn.id, idle_s)

    def should_retire(
        self, target: Target, idle_s: float, fn_idle_s: float, unused_prewarm: bool
    ) -> bool:
        # The fn's idleness, not the container's: with several containers, the
        # surplus ones are retired by their own idle time under the fixed rule.
        w = self.windows(target)
        if w.mode == "fixed":
            return idle_s >= w.keepalive_s
        if unused_prewarm:
            # Its window counts from the fn's last call, not from its own start.
            idle_s = fn_idle_s
        return not w.keep(idle_s, unused_prewarm)

    def prewarm_due(self, target: Target, idle_s: float) -> bool:
        return self.windows(target).prewarm_due(idle_s)

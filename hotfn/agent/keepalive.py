"""Keep-alive policies: how long an idle hot container is kept.

A policy is consulted by the agent's housekeeping tick, never on the call path. The
default keeps a container for its fn's ``idle_timeout`` as Fn does; the cold-start
work (adaptive keep-alive from a histogram of idle times, N always-hot containers per
fn) plugs in here by implementing :class:`KeepAlivePolicy`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hotfn.agent.container import HotContainer
    from hotfn.agent.pool import HotPool


class KeepAlivePolicy(Protocol):
    """Decides which idle containers of a pool to retire."""

    def should_retire(self, pool: HotPool, container: HotContainer, idle_s: float) -> bool:
        """True to stop ``container``, idle for ``idle_s`` seconds, now."""
        ...

    def observe_idle(self, pool: HotPool, idle_s: float) -> None:
        """Told the idle gap before each reuse (adaptive policies learn from it)."""
        ...


class FixedKeepAlive:
    """Retire a container idle for longer than its fn's ``idle_timeout`` (Fn's rule)."""

    def should_retire(self, pool: HotPool, container: HotContainer, idle_s: float) -> bool:
        return idle_s >= pool.target.fn.idle_timeout

    def observe_idle(self, pool: HotPool, idle_s: float) -> None:
        return None

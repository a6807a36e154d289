"""What the keep-alive policy does to a hot pool on each agent tick.

The policy (``keepalive.py``) only answers questions about times; this applies its
answers to one pool: retire the idle containers it no longer wants (oldest first,
never below the fn's provisioned count), top up the provisioned ones, and start one
pre-warmed container per idle gap when the policy expects a call soon.
"""

from __future__ import annotations

from hotfn.agent.pool import HotPool
from hotfn.agent.shared import log


def tend(pool: HotPool, now: float) -> None:
    """Apply the keep-alive policy to ``pool`` at monotonic time ``now``."""
    policy = pool.ctx.keepalive
    target = pool.target
    for c in sorted(pool.free, key=lambda c: c.last_used):  # oldest first
        if len(pool.containers) <= pool.fleet.provisioned:
            break
        if c.inflight == 0 and c.state == "idle":
            unused_prewarm = c.start_path == "prewarmed" and c.calls == 0
            idle_s, fn_idle_s = now - c.last_used, now - pool.last_used
            if policy.should_retire(target, idle_s, fn_idle_s, unused_prewarm):
                pool.retire(c)
    pool.ensure_provisioned()
    if (
        not pool.containers
        and not pool.draining
        and pool.active == 0
        and pool.calls_seen
        and pool.prewarmed_gap != pool.last_used
        and policy.prewarm_due(target, now - pool.last_used)
    ):
        # One pre-warm per idle gap: if it times out unused, the next call is cold.
        pool.prewarmed_gap = pool.last_used
        if pool.start_ahead("prewarmed"):
            log.info("pre-warming a container of fn %s", target.fn.name)

"""Containers started before calls need them, and pools that follow configuration.

The agent serves calls; the provisioner acts on the fn configuration around them. It
follows the API's configuration cache: a changed or deleted fn's pool drains (the
next call makes a pool of the new configuration), and a created or changed fn gets
its provisioned containers (``hotfn.io/provisioned``) started and, when it can use
warm generic containers, its code copied out of its image now rather than at its
first call. ``hotfn deploy --prewarm`` asks it for started containers too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from hotfn.agent.generic_pools import GenericPools
from hotfn.agent.metrics import FnMetrics
from hotfn.agent.pool import HotPool
from hotfn.agent.pool_table import PoolTable
from hotfn.agent.shared import AgentContext
from hotfn.errors import HotfnError
from hotfn.types import ANNOTATION_PROVISIONED, Target

if TYPE_CHECKING:
    from hotfn.store.cache import ConfigCache


class Provisioner:
    """Provisions, pre-warms and drains the agent's pools as configuration changes.

    ``accepting`` says whether the agent still takes calls (nothing is started
    during shutdown); ``metrics`` finds a fn's metrics, if it has any yet.
    """

    def __init__(
        self,
        ctx: AgentContext,
        pools: PoolTable,
        generic: GenericPools | None,
        accepting: Callable[[], bool],
        metrics: Callable[[str], FnMetrics | None],
    ) -> None:
        self.ctx = ctx
        self._pools = pools
        self._generic = generic
        self._accepting = accepting
        self._metrics = metrics
        # Loads a fn's target by id (the API server's ConfigCache.target).
        self.targets: Callable[[str], Awaitable[Target]] | None = None

    def attach(self, cache: ConfigCache) -> None:
        """Follow the API's configuration: drain pools of changed fns, and provision
        (``hotfn.io/provisioned``) and prepare (warm generic plan) changed fns."""
        self.targets = cache.target
        cache.add_listener(self.fn_changed)

    def fn_changed(self, fn_id: str) -> None:
        """A fn (or its app) was changed or deleted: drain its pool.

        The next call makes a new pool from the new configuration.
        """
        self._pools.drop(fn_id)
        if self.targets is not None and self._accepting():
            self.ctx.spawn(self._fn_known(fn_id))

    async def _fn_known(self, fn_id: str) -> None:
        assert self.targets is not None
        try:
            target = await self.targets(fn_id)
        except HotfnError:
            return  # deleted
        await self.provision(target)

    async def provision(self, target: Target) -> HotPool | None:
        """Start the fn's provisioned containers (and, for a fn that can use warm
        generic containers, copy its code out of its image now rather than at its
        first call). Called when a fn is created or changed, and at start."""
        if target.fn.format != "http-stream" or not self._accepting():
            return None
        if self._generic is not None:
            await self._generic.planner.plan(target)
        pool = self._pools.get(target, self._metrics(target.fn.id))
        pool.ensure_provisioned()
        return pool

    async def provision_all(self, targets: Iterable[Target]) -> None:
        """Provision every fn that asks for it (server start)."""
        for target in targets:
            if target.annotation(ANNOTATION_PROVISIONED):
                await self.provision(target)

    async def prewarm(self, target: Target, count: int = 1, wait_s: float | None = None) -> int:
        """Have ``count`` containers of the fn started and ready (``hotfn deploy
        --prewarm``); returns how many are ready when it returns (within ``wait_s``,
        default ``hot_start_timeout``). They are kept as the keep-alive policy says
        (provisioned ones for good)."""
        if target.fn.format != "http-stream":
            return 0
        wait_s = wait_s or self.ctx.settings.hot_start_timeout
        return await self._pools.prewarm(target, count, wait_s, self._metrics(target.fn.id))

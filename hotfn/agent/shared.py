"""What the agent's parts share: the driver, settings, budget and background tasks."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotfn.agent.budget import MemoryBudget
from hotfn.agent.deadlines import DeadlineSweeper
from hotfn.agent.keepalive import FixedKeepAlive, KeepAlivePolicy
from hotfn.config import Settings
from hotfn.drivers.base import LABEL_FN, LABEL_INSTANCE, LABEL_KIND, LABEL_MANAGED, Driver
from hotfn.types import ANNOTATION_NETWORK, Target

log = logging.getLogger("hotfn.agent")

# A socket path must fit in sun_path (108 bytes) on the host side too.
_MAX_SOCKET_PATH = 100


def iofs_base(settings: Settings) -> Path:
    """This instance's directory for per-container iofs dirs (short enough for sockets)."""
    base = (settings.iofs_dir or settings.data_dir / "iofs").resolve() / settings.instance
    if len(str(base)) + len("/0123456789ab/phonylsnr.sock") > _MAX_SOCKET_PATH:
        base = Path("/tmp") / f"hotfn-iofs-{settings.instance}"
    return base


@dataclass(frozen=True)
class AgentContext:
    """Shared by pools, containers and the cold runner of one agent; fixed when the
    agent is made."""

    driver: Driver
    settings: Settings
    budget: MemoryBudget
    iofs_base: Path
    # Reserve memory now for ``requester`` (a pool, or None), freeing idle containers
    # of others if needed (the agent's eviction); False if it cannot be had now.
    reserve: Callable[[int, object | None], bool]
    keepalive: KeepAlivePolicy = field(default_factory=FixedKeepAlive)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # The deadlines of hot calls in flight (one timer for all, not one per call).
    deadlines: DeadlineSweeper = field(default_factory=DeadlineSweeper)

    @property
    def labels(self) -> dict[str, str]:
        labels = dict(self.settings.container_labels)
        labels[LABEL_MANAGED] = "1"
        labels[LABEL_INSTANCE] = self.settings.instance
        return labels

    def container_labels(self, fn_id: str, kind: str) -> dict[str, str]:
        labels = self.labels
        labels[LABEL_FN] = fn_id
        labels[LABEL_KIND] = kind
        return labels

    def container_name(self, fn_id: str, kind: str) -> str:
        return f"hotfn-{self.settings.instance}-{kind}-{fn_id[-10:].lower()}-{secrets.token_hex(4)}"

    def network_mode(self, target: Target) -> str | None:
        value = target.annotation(ANNOTATION_NETWORK)
        if isinstance(value, str) and value:
            return value
        return self.settings.network_mode

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("background task failed", exc_info=exc)

    def base_env(self, target: Target, fmt: str) -> dict[str, str]:
        """The environment of §2/§3 every container of ``target`` gets."""
        env = target.env
        env.update(
            {
                "FN_FORMAT": fmt,
                "FN_APP_ID": target.app.id,
                "FN_FN_ID": target.fn.id,
                "FN_APP_NAME": target.app.name,
                "FN_FN_NAME": target.fn.name,
                "FN_MEMORY": str(target.fn.memory),
                "FN_TYPE": "sync",
            }
        )
        return env


def int_setting(value: object, default: int, low: int, high: int) -> int:
    """An annotation value (JSON: number or string) as a bounded int."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        number = int(value)
    except ValueError:
        return default
    return max(low, min(high, number))


def cpu_count() -> int:
    return os.cpu_count() or 1

"""The objects one running server is made of, shared by its routes.

Built once at start (``hotfn.server``) and reached by routes as
``request.app.state.runtime``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hotfn.config import Settings

if TYPE_CHECKING:
    from hotfn.agent.agent import Agent
    from hotfn.agent.detached import Dispatcher
    from hotfn.store import Store
    from hotfn.store.cache import ConfigCache
    from hotfn.store.call_records import CallStore
    from hotfn.store.db import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    store: Store
    cache: ConfigCache
    calls: CallStore
    agent: Agent
    dispatcher: Dispatcher

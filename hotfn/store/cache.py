"""The invoke path's view of configuration: fns and triggers held in memory.

A call never queries the database once its fn is cached. Every committed change
(local, or from another server through LISTEN/NOTIFY) drops the affected entries, and
the fns concerned are announced to listeners (the agent drains their pools).
A lookup racing with a change never caches the stale result: loads remember the
generation they started in and are discarded if a change came in meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

from hotfn.errors import NotFound
from hotfn.store import Store
from hotfn.store.apps import fetch_app
from hotfn.store.changes import Change
from hotfn.store.fns import fetch_fn
from hotfn.types import Target, Trigger

FnListener = Callable[[str], None]


class ConfigCache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._targets: dict[str, Target] = {}
        self._triggers: dict[tuple[str, str], tuple[str, Trigger]] = {}
        self._listeners: list[FnListener] = []
        self._generation = 0
        store.changes.subscribe(self._on_change)

    def add_listener(self, listener: FnListener) -> None:
        """``listener(fn_id)`` runs whenever a fn or its app changes or is deleted."""
        self._listeners.append(listener)

    async def target(self, fn_id: str) -> Target:
        """The app and fn of ``fn_id``; raises ``NotFound``."""
        hit = self._targets.get(fn_id)
        if hit is not None:
            return hit
        if "\x00" in fn_id:  # no id has one, and PostgreSQL text cannot hold one
            raise NotFound("Fn not found")
        gen = self._generation
        async with self.store.db.engine.connect() as conn:
            fn = await fetch_fn(conn, fn_id)
            app = await fetch_app(conn, fn.app_id)
        target = Target(app=app, fn=fn)
        if gen == self._generation:
            self._targets[fn_id] = target
        return target

    async def trigger(self, app_name: str, source: str) -> tuple[Target, Trigger]:
        """The target behind ``/t/{app_name}{source}``; raises ``NotFound``."""
        hit = self._triggers.get((app_name, source))
        if hit is not None:
            fn_id, trig = hit
            return await self.target(fn_id), trig
        if "\x00" in app_name or "\x00" in source:
            raise NotFound(f"no trigger for path {source!r} in app {app_name!r}")
        gen = self._generation
        _app, trig = await self.store.triggers.find(app_name, source)
        target = await self.target(trig.fn_id)
        if gen == self._generation:
            self._triggers[(app_name, source)] = (trig.fn_id, trig)
        return target, trig

    def _on_change(self, change: Change) -> None:
        self._generation += 1
        # Triggers are few and change rarely; dropping them all keeps this simple and
        # covers renamed apps and moved sources.
        self._triggers.clear()
        if change.kind == "trigger":
            return
        if change.kind == "all":
            affected = list(self._targets)
        elif change.kind == "fn":
            affected = [change.id]
        else:  # app: every fn of it sees new config
            affected = [fid for fid, t in self._targets.items() if t.app.id == change.id]
        for fn_id in affected:
            self._targets.pop(fn_id, None)
        for fn_id in affected:
            for listener in self._listeners:
                listener(fn_id)

"""The datastore: apps, fns, triggers (and, in ``calls``, call records and logs)."""

from __future__ import annotations

from dataclasses import dataclass

from hotfn.store.apps import Apps
from hotfn.store.changes import Changes
from hotfn.store.db import Database
from hotfn.store.fns import Fns
from hotfn.store.triggers import Triggers


@dataclass
class Store:
    db: Database
    changes: Changes
    apps: Apps
    fns: Fns
    triggers: Triggers

    @classmethod
    def open(cls, db: Database, origin: str) -> Store:
        changes = Changes(db, origin)
        return cls(db, changes, Apps(db, changes), Fns(db, changes), Triggers(db, changes))

"""Change notifications: every committed change to an app, fn or trigger is announced
to this process's listeners (the config cache) and, with PostgreSQL, to every other
server sharing the database through LISTEN/NOTIFY, so their caches follow within
milliseconds. SQLite serves one server, so local delivery is all it needs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotfn.store.db import Database

log = logging.getLogger("hotfn.store")

CHANNEL = "hotfn_changes"

Kind = Literal["app", "fn", "trigger", "all"]


@dataclass(frozen=True)
class Change:
    kind: Kind
    id: str
    app_id: str = ""
    deleted: bool = False


Listener = Callable[[Change], None]


class Changes:
    """Publish changes after commit; with PostgreSQL also receive other servers' ones."""

    def __init__(self, db: Database, origin: str) -> None:
        self.db = db
        self.origin = origin  # lets a server ignore the echo of its own NOTIFY
        self._listeners: list[Listener] = []
        self._pg: Any = None  # asyncpg connection used for LISTEN
        self._watchdog: asyncio.Task[None] | None = None

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[tuple[AsyncConnection, list[Change]]]:
        """A write transaction whose changes (appended to the yielded list) are
        announced to other servers at commit and to this process after it; nothing
        is announced if the transaction fails."""
        made: list[Change] = []
        async with self.db.engine.begin() as conn:
            yield conn, made
            for change in made:
                await self.announce(conn, change)
        for change in made:
            self.deliver(change)

    async def announce(self, conn: AsyncConnection, change: Change) -> None:
        """Queue a NOTIFY inside the writing transaction: PostgreSQL sends it at
        commit, and never for a transaction that rolls back."""
        if self.db.is_postgres:
            payload = json.dumps({"o": self.origin, **change.__dict__})
            await conn.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))

    def deliver(self, change: Change) -> None:
        """Tell this process's listeners (call after the commit)."""
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:  # a broken listener must not fail the API request
                log.exception("change listener failed")

    async def start(self) -> None:
        if self.db.is_postgres:
            await self._listen()
            self._watchdog = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self._watchdog:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
        if self._pg is not None:
            await self._pg.close()
            self._pg = None

    async def _listen(self) -> None:
        import asyncpg

        self._pg = await asyncpg.connect(self.db.dsn)
        await self._pg.add_listener(CHANNEL, self._on_notify)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            if data.pop("o", None) == self.origin:
                return
            self.deliver(Change(**data))
        except (ValueError, TypeError):
            log.warning("ignoring malformed change notification %r", payload[:200])

    async def _watch(self) -> None:
        """Reconnect a lost LISTEN connection; changes missed meanwhile are unknown,
        so everything cached is dropped ("all")."""
        while True:
            await asyncio.sleep(1.0)
            if self._pg is not None and not self._pg.is_closed():
                continue
            try:
                await self._listen()
            except Exception as exc:
                log.warning("LISTEN connection lost, retrying: %s", exc)
                continue
            self.deliver(Change(kind="all", id=""))

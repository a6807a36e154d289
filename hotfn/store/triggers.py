"""Triggers: an HTTP path of an app that calls one of its fns."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotfn.errors import Conflict, InvalidInput, NotFound
from hotfn.store import common
from hotfn.store.apps import fetch_app
from hotfn.store.changes import Change, Changes
from hotfn.store.db import Database
from hotfn.store.fns import fetch_fn
from hotfn.store.ids import new_id
from hotfn.store.tables import apps, triggers
from hotfn.types import App, Trigger


def row_to_trigger(row: Any) -> Trigger:
    return Trigger(
        id=row.id,
        name=row.name,
        app_id=row.app_id,
        fn_id=row.fn_id,
        type=row.type,
        source=row.source,
        annotations=common.loads(row.annotations),
        created_at=common.utc(row.created_at),
        updated_at=common.utc(row.updated_at),
    )


async def fetch_trigger(
    conn: AsyncConnection, trigger_id: str, for_update: bool = False
) -> Trigger:
    query = sa.select(triggers).where(triggers.c.id == trigger_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound("Trigger not found")
    return row_to_trigger(row)


async def _source_taken(conn: AsyncConnection, app_id: str, type_: str, source: str) -> bool:
    query = sa.select(triggers.c.id).where(
        triggers.c.app_id == app_id, triggers.c.type == type_, triggers.c.source == source
    )
    return (await conn.execute(query)).first() is not None


class Triggers:
    def __init__(self, db: Database, changes: Changes) -> None:
        self.db = db
        self.changes = changes

    async def create(
        self,
        app_id: str,
        fn_id: str,
        name: str,
        type: str,
        source: str,
        annotations: dict[str, Any] | None = None,
    ) -> Trigger:
        ts = common.now()
        trigger_id = new_id()
        async with common.conflict_on_duplicate(
            f"Trigger {name!r} or another trigger with source {source!r} exists in this app"
        ):
            async with self.changes.transaction() as (conn, made):
                await fetch_app(conn, app_id)
                fn = await fetch_fn(conn, fn_id)
                if fn.app_id != app_id:
                    raise InvalidInput("fn_id names a fn of another app than app_id")
                if await _source_taken(conn, app_id, type, source):
                    raise Conflict(f"Trigger with the same type and source {source!r} exists")
                await conn.execute(
                    triggers.insert().values(
                        id=trigger_id,
                        app_id=app_id,
                        fn_id=fn_id,
                        name=name,
                        type=type,
                        source=source,
                        annotations=common.dumps(common.without_empty(annotations)),
                        created_at=ts,
                        updated_at=ts,
                    )
                )
                trigger = await fetch_trigger(conn, trigger_id)
                made.append(Change("trigger", trigger_id, app_id))
        return trigger

    async def get(self, trigger_id: str) -> Trigger:
        async with self.db.engine.connect() as conn:
            return await fetch_trigger(conn, trigger_id)

    async def update(
        self,
        trigger_id: str,
        *,
        source: str | None = None,
        annotations: dict[str, Any] | None = None,
        **immutable: Any,
    ) -> Trigger:
        async with self.changes.transaction() as (conn, made):
            cur = await fetch_trigger(conn, trigger_id, for_update=True)
            for field, given in immutable.items():
                if given is not None and given != getattr(cur, field):
                    raise Conflict(f"Could not update - trigger {field} is immutable")
            values: dict[str, Any] = {
                "annotations": common.dumps(common.merge(cur.annotations, annotations)),
                "updated_at": common.now(),
            }
            if source is not None and source != cur.source:
                if await _source_taken(conn, cur.app_id, cur.type, source):
                    raise Conflict(f"Trigger with the same type and source {source!r} exists")
                values["source"] = source
            async with common.conflict_on_duplicate(f"source {source!r} is taken"):
                await conn.execute(
                    triggers.update().where(triggers.c.id == trigger_id).values(**values)
                )
            trigger = await fetch_trigger(conn, trigger_id)
            made.append(Change("trigger", trigger_id, cur.app_id))
        return trigger

    async def delete(self, trigger_id: str) -> None:
        async with self.changes.transaction() as (conn, made):
            trigger = await fetch_trigger(conn, trigger_id)
            await conn.execute(triggers.delete().where(triggers.c.id == trigger_id))
            made.append(Change("trigger", trigger_id, trigger.app_id, deleted=True))

    async def list(
        self,
        app_id: str,
        fn_id: str | None = None,
        name: str | None = None,
        cursor: str | None = None,
        per_page: int | None = None,
    ) -> tuple[list[Trigger], str | None]:
        query = sa.select(triggers).where(triggers.c.app_id == app_id)
        if fn_id is not None:
            query = query.where(triggers.c.fn_id == fn_id)
        if name is not None:
            query = query.where(triggers.c.name == name)
        query, size = common.paginate(query, triggers.c.name, triggers.c.id, cursor, per_page, True)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [row_to_trigger(r) for r in rows], common.next_cursor(rows, size, True)

    async def find(self, app_name: str, source: str) -> tuple[App, Trigger]:
        """The HTTP trigger of app ``app_name`` whose source is exactly ``source``."""
        query = (
            sa.select(triggers, apps.c.name.label("app_name"))
            .join(apps, apps.c.id == triggers.c.app_id)
            .where(apps.c.name == app_name, triggers.c.type == "http")
            .where(triggers.c.source == source)
        )
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                raise NotFound(f"no trigger for path {source!r} in app {app_name!r}")
            return await fetch_app(conn, row.app_id), row_to_trigger(row)

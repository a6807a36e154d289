"""Fns: create, read, merge-update, delete (cascading to triggers), list."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotfn.errors import Conflict, NotFound
from hotfn.store import common
from hotfn.store.apps import fetch_app
from hotfn.store.changes import Change, Changes
from hotfn.store.db import Database
from hotfn.store.ids import new_id
from hotfn.store.tables import fns
from hotfn.types import Fn, FnFormat

DEFAULTS: dict[str, Any] = {
    "memory": 128,
    "timeout": 30,
    "idle_timeout": 30,
    "format": "http-stream",
}
# Fields a PUT may change; name and app_id are immutable (the id is the API's to check).
MUTABLE = ("image", "memory", "timeout", "idle_timeout", "format")


def row_to_fn(row: Any) -> Fn:
    fmt: FnFormat = "default" if row.format == "default" else "http-stream"
    return Fn(
        id=row.id,
        name=row.name,
        app_id=row.app_id,
        image=row.image,
        memory=row.memory,
        timeout=row.timeout,
        idle_timeout=row.idle_timeout,
        format=fmt,
        config=common.loads(row.config),
        annotations=common.loads(row.annotations),
        created_at=common.utc(row.created_at),
        updated_at=common.utc(row.updated_at),
    )


async def fetch_fn(conn: AsyncConnection, fn_id: str, for_update: bool = False) -> Fn:
    query = sa.select(fns).where(fns.c.id == fn_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound("Fn not found")
    return row_to_fn(row)


class Fns:
    def __init__(self, db: Database, changes: Changes) -> None:
        self.db = db
        self.changes = changes

    async def create(
        self,
        app_id: str,
        name: str,
        image: str,
        config: dict[str, str] | None = None,
        annotations: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Fn:
        ts = common.now()
        values = {**DEFAULTS, **{k: v for k, v in fields.items() if v is not None}}
        fn_id = new_id()
        async with common.conflict_on_duplicate(f"Fn {name!r} already exists in this app"):
            async with self.changes.transaction() as (conn, made):
                await fetch_app(conn, app_id)  # 404 for an unknown parent
                await conn.execute(
                    fns.insert().values(
                        id=fn_id,
                        app_id=app_id,
                        name=name,
                        image=image,
                        config=common.dumps(common.without_empty(config)),
                        annotations=common.dumps(common.without_empty(annotations)),
                        created_at=ts,
                        updated_at=ts,
                        **values,
                    )
                )
                fn = await fetch_fn(conn, fn_id)
                made.append(Change("fn", fn_id, app_id))
        return fn

    async def get(self, fn_id: str) -> Fn:
        async with self.db.engine.connect() as conn:
            return await fetch_fn(conn, fn_id)

    async def update(
        self,
        fn_id: str,
        *,
        name: str | None = None,
        app_id: str | None = None,
        config: dict[str, str] | None = None,
        annotations: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Fn:
        async with self.changes.transaction() as (conn, made):
            cur = await fetch_fn(conn, fn_id, for_update=True)
            if name is not None and name != cur.name:
                raise Conflict("Could not update - fn name is immutable")
            if app_id is not None and app_id != cur.app_id:
                raise Conflict("Could not update - a fn cannot move to another app")
            values = {k: v for k, v in fields.items() if k in MUTABLE and v is not None}
            values["config"] = common.dumps(common.merge(cur.config, config))
            values["annotations"] = common.dumps(common.merge(cur.annotations, annotations))
            values["updated_at"] = common.now()
            await conn.execute(fns.update().where(fns.c.id == fn_id).values(**values))
            fn = await fetch_fn(conn, fn_id)
            made.append(Change("fn", fn_id, fn.app_id))
        return fn

    async def delete(self, fn_id: str) -> None:
        async with self.changes.transaction() as (conn, made):
            fn = await fetch_fn(conn, fn_id)
            await conn.execute(fns.delete().where(fns.c.id == fn_id))
            made.append(Change("fn", fn_id, fn.app_id, deleted=True))

    async def ids_annotated(self, key: str) -> list[str]:
        """Ids of the fns whose own annotations name ``key`` (a superset filter in
        SQL, exact in Python: annotations are JSON text)."""
        query = sa.select(fns.c.id, fns.c.annotations).where(
            fns.c.annotations.contains(json.dumps(key))
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [r.id for r in rows if key in common.loads(r.annotations)]

    async def list(
        self,
        app_id: str | None = None,
        name: str | None = None,
        cursor: str | None = None,
        per_page: int | None = None,
    ) -> tuple[list[Fn], str | None]:
        query = sa.select(fns)
        if app_id is not None:
            query = query.where(fns.c.app_id == app_id)
        if name is not None:
            query = query.where(fns.c.name == name)
        # Names are unique only within one app.
        unique = app_id is not None
        query, size = common.paginate(query, fns.c.name, fns.c.id, cursor, per_page, unique)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [row_to_fn(r) for r in rows], common.next_cursor(rows, size, unique)

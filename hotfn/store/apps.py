"""Apps: create, read, merge-update, delete (cascading to fns and triggers), list."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotfn.errors import Conflict, NotFound
from hotfn.store import common
from hotfn.store.changes import Change, Changes
from hotfn.store.db import Database
from hotfn.store.ids import new_id
from hotfn.store.tables import apps
from hotfn.types import App


def row_to_app(row: Any) -> App:
    return App(
        id=row.id,
        name=row.name,
        config=common.loads(row.config),
        annotations=common.loads(row.annotations),
        syslog_url=row.syslog_url,
        shape=row.shape,
        created_at=common.utc(row.created_at),
        updated_at=common.utc(row.updated_at),
    )


async def fetch_app(conn: AsyncConnection, app_id: str, for_update: bool = False) -> App:
    query = sa.select(apps).where(apps.c.id == app_id)
    if for_update:  # PostgreSQL: concurrent PUTs merge one after the other
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound("App not found")
    return row_to_app(row)


class Apps:
    def __init__(self, db: Database, changes: Changes) -> None:
        self.db = db
        self.changes = changes

    async def create(
        self,
        name: str,
        config: dict[str, str] | None = None,
        annotations: dict[str, Any] | None = None,
        syslog_url: str | None = None,
        shape: str | None = None,
    ) -> App:
        ts = common.now()
        app = App(
            id=new_id(),
            name=name,
            config=common.without_empty(config),
            annotations=common.without_empty(annotations),
            syslog_url=syslog_url,
            shape=shape,
            created_at=ts,
            updated_at=ts,
        )
        async with common.conflict_on_duplicate(f"App {name!r} already exists"):
            async with self.changes.transaction() as (conn, made):
                await conn.execute(
                    apps.insert().values(
                        id=app.id,
                        name=app.name,
                        config=common.dumps(app.config),
                        annotations=common.dumps(app.annotations),
                        syslog_url=syslog_url,
                        shape=shape,
                        created_at=ts,
                        updated_at=ts,
                    )
                )
                made.append(Change("app", app.id, app.id))
        return app

    async def get(self, app_id: str) -> App:
        async with self.db.engine.connect() as conn:
            return await fetch_app(conn, app_id)

    async def get_by_name(self, name: str) -> App:
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(sa.select(apps).where(apps.c.name == name))).first()
        if row is None:
            raise NotFound("App not found")
        return row_to_app(row)

    async def update(
        self,
        app_id: str,
        *,
        name: str | None = None,
        config: dict[str, str] | None = None,
        annotations: dict[str, Any] | None = None,
        syslog_url: str | None = None,
        shape: str | None = None,
    ) -> App:
        async with self.changes.transaction() as (conn, made):
            cur = await fetch_app(conn, app_id, for_update=True)
            if name is not None and name != cur.name:
                raise Conflict("Could not update - name is immutable")
            values: dict[str, Any] = {
                "config": common.dumps(common.merge(cur.config, config)),
                "annotations": common.dumps(common.merge(cur.annotations, annotations)),
                "syslog_url": cur.syslog_url if syslog_url is None else (syslog_url or None),
                "shape": cur.shape if shape is None else (shape or None),
                "updated_at": common.now(),
            }
            await conn.execute(apps.update().where(apps.c.id == app_id).values(**values))
            app = await fetch_app(conn, app_id)
            made.append(Change("app", app_id, app_id))
        return app

    async def delete(self, app_id: str) -> None:
        async with self.changes.transaction() as (conn, made):
            result = await conn.execute(apps.delete().where(apps.c.id == app_id))
            if result.rowcount == 0:
                raise NotFound("App not found")
            made.append(Change("app", app_id, app_id, deleted=True))

    async def list(
        self, name: str | None = None, cursor: str | None = None, per_page: int | None = None
    ) -> tuple[list[App], str | None]:
        query = sa.select(apps)
        if name is not None:
            query = query.where(apps.c.name == name)
        query, size = common.paginate(query, apps.c.name, apps.c.id, cursor, per_page, True)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [row_to_app(r) for r in rows], common.next_cursor(rows, size, True)

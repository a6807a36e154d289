"""Several servers starting at once on one new PostgreSQL database (a cluster coming
up) migrate it once between them, and none fails."""

from __future__ import annotations

import asyncio

import pytest

from hotfn.store.db import Database
from tests.server_support import create_pg_database, drop_pg_database

pytestmark = pytest.mark.postgres


async def test_servers_migrating_one_new_database_at_once_all_succeed() -> None:
    url = create_pg_database()
    dbs = [Database(url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(db.migrate() for db in dbs), return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        async with dbs[0].engine.connect() as conn:
            rows = (await conn.exec_driver_sql("SELECT count(*) FROM alembic_version")).scalar()
        assert rows == 1
    finally:
        for db in dbs:
            await db.close()
        drop_pg_database(url)

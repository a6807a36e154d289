"""An existing database (schema 0001, with data) is upgraded at start: the detached
queue's table appears, call records gain ``attempts``, and nothing is lost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from hotfn.store.db import MIGRATIONS, Database


def _upgrade_to(revision: str) -> Callable[[sa.Connection], None]:
    def run(sync_conn: sa.Connection) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    return run


async def test_a_0001_database_upgrades_and_keeps_its_calls(
    backend: str, make_db_url: Callable[[str], str]
) -> None:
    db = Database(make_db_url(backend))
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(_upgrade_to("0001"))
            await conn.execute(
                sa.text(
                    "INSERT INTO calls (id, fn_id, app_id, status, created_at) "
                    "VALUES ('01OLD', 'F', 'A', 'success', :at)"
                ),
                {"at": datetime(2026, 12, 1, tzinfo=UTC)},
            )
        await db.migrate()  # what every start does
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
            row = (await conn.execute(sa.text("SELECT id, status, attempts FROM calls"))).one()
            version = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
        assert "queued_calls" in tables
        assert tuple(row) == ("01OLD", "success", None)
        assert version is not None and version >= "0002"
        await db.migrate()  # idempotent
    finally:
        await db.close()

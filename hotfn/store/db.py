"""The database: one async SQLAlchemy engine for SQLite (embedded default) or PostgreSQL.

``Database(url)`` accepts the URLs users type (``sqlite:///path``,
``postgresql://user:pw@host/db``) and picks the async driver itself.
``migrate()`` brings the schema to the newest Alembic revision; the server runs it
at every start.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hotfn.errors import InvalidInput

log = logging.getLogger("hotfn.store")

MIGRATIONS = Path(__file__).parent / "migrations"


def async_url(url: str) -> sa.URL:
    """Map a user's database URL to the async driver hotfn uses for it."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise InvalidInput(f"database URL {url!r} is not valid: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise InvalidInput(
        f"unsupported database {backend!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


class Database:
    """An async engine plus what hotfn needs to know about its dialect."""

    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.is_postgres = self.url.get_backend_name() == "postgresql"
        if self.is_postgres:
            self.engine: AsyncEngine = create_async_engine(
                self.url, pool_size=10, max_overflow=10, pool_pre_ping=True
            )
        else:
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            # One connection: SQLite has one writer anyway, and serialising in the
            # pool avoids "database is locked" errors under concurrent requests.
            self.engine = create_async_engine(
                self.url, pool_size=1, max_overflow=0, pool_timeout=60
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    @property
    def dsn(self) -> str:
        """The plain libpq DSN (PostgreSQL only), for LISTEN connections."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def migrate(self) -> None:
        """Upgrade the schema to the newest revision (idempotent)."""
        async with self.engine.begin() as conn:
            if self.is_postgres:
                # Servers starting at once on one database (a cluster) take turns:
                # the first migrates, the others then find the schema up to date.
                # Held until this transaction ends.
                await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATE_LOCK)))
            await conn.run_sync(_upgrade)

    async def close(self) -> None:
        await self.engine.dispose()


_MIGRATE_LOCK = 0x686F74666E  # "hotfn": the advisory lock key of migrations


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL + synchronous=FULL: a write is on disk before the API acknowledges it, so a
    # kill -9 (or power loss) cannot lose an acknowledged write.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _upgrade(sync_conn: sa.Connection) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, "head")

"""Store fixtures: a migrated Database per backend, opened in the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from hotfn.store import Store
from hotfn.store.db import Database


@pytest.fixture
async def open_store(
    backend: str, make_db_url: Callable[[str], str]
) -> AsyncIterator[Callable[..., object]]:
    """``await open_store(url=None, origin=...)``: a started Store (closed at the end)."""
    opened: list[Store] = []
    default_url = make_db_url(backend)

    async def open_(url: str | None = None, origin: str = "test") -> Store:
        db = Database(url or default_url)
        await db.migrate()
        store = Store.open(db, origin)
        await store.changes.start()
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.changes.close()
        await store.db.close()

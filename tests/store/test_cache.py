"""The config cache: no database query per call once cached, every change seen, and
with PostgreSQL a change made by one server reaches another's cache within a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from hotfn.errors import NotFound
from hotfn.store import Store
from hotfn.store.cache import ConfigCache
from hotfn.store.db import Database


async def _fn(store: Store, **fn_fields: Any) -> tuple[str, str]:
    app = await store.apps.create("app1", config={"A": "app"})
    fn = await store.fns.create(app.id, "fn1", "img:1", config={"B": "fn"}, **fn_fields)
    return app.id, fn.id


def _count_queries(store: Store) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(store.db.engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_cached_lookups_do_not_query(open_store: Callable[..., Any]) -> None:
    store: Store = await open_store()
    _, fn_id = await _fn(store)
    cache = ConfigCache(store)
    target = await cache.target(fn_id)
    assert target.env == {"A": "app", "B": "fn"}
    queries = _count_queries(store)
    for _ in range(100):
        assert (await cache.target(fn_id)) is target
    assert queries == []


async def test_trigger_lookup_is_cached_and_exact(open_store: Callable[..., Any]) -> None:
    store: Store = await open_store()
    app_id, fn_id = await _fn(store)
    await store.triggers.create(app_id, fn_id, "t", "http", "/hello")
    cache = ConfigCache(store)
    target, trigger = await cache.trigger("app1", "/hello")
    assert target.fn.id == fn_id and trigger.source == "/hello"
    queries = _count_queries(store)
    await cache.trigger("app1", "/hello")
    assert queries == []
    for app_name, source in (("app1", "/hello/"), ("app1", "/hell"), ("other", "/hello")):
        with pytest.raises(NotFound):
            await cache.trigger(app_name, source)


async def test_local_changes_invalidate_and_notify(open_store: Callable[..., Any]) -> None:
    store: Store = await open_store()
    app_id, fn_id = await _fn(store)
    cache = ConfigCache(store)
    told: list[str] = []
    cache.add_listener(told.append)
    await cache.target(fn_id)
    await store.fns.update(fn_id, config={"B": "new"})
    assert (await cache.target(fn_id)).env["B"] == "new"
    await store.apps.update(app_id, config={"A": "changed"})
    assert (await cache.target(fn_id)).env["A"] == "changed"
    await store.fns.delete(fn_id)
    with pytest.raises(NotFound):
        await cache.target(fn_id)
    assert told == [fn_id, fn_id, fn_id]


async def _started(url: str, origin: str) -> Store:
    db = Database(url)
    await db.migrate()
    store = Store.open(db, origin)
    await store.changes.start()
    return store


async def test_change_reaches_another_server_within_a_second(
    make_db_url: Callable[[str], str],
) -> None:
    # Several servers share one database only with PostgreSQL.
    url = make_db_url("postgres")
    writer = await _started(url, "server-a")
    reader = await _started(url, "server-b")
    try:
        await _check_propagation(writer, reader)
    finally:
        for store in (writer, reader):
            await store.changes.close()
            await store.db.close()


async def _check_propagation(writer: Store, reader: Store) -> None:
    _, fn_id = await _fn(writer)
    cache = ConfigCache(reader)
    told: list[str] = []
    cache.add_listener(told.append)
    assert (await cache.target(fn_id)).fn.image == "img:1"
    await writer.fns.update(fn_id, image="img:2")
    start = time.monotonic()
    while (await cache.target(fn_id)).fn.image != "img:2":
        assert time.monotonic() - start < 1.0, "change did not arrive within a second"
        await asyncio.sleep(0.01)
    # The create's own notification may land after the first load: once or twice.
    assert told and set(told) == {fn_id}

"""CallStore: batched writes, reads, logs, bounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from hotfn.agent.call_log import CallLog, new_call_id
from hotfn.config import Settings
from hotfn.errors import NotFound
from hotfn.store.call_records import CallStore
from hotfn.store.call_rows import sqlite_time
from hotfn.types import CallRecord
from tests.server_support import sqlite_database


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CallStore]:
    db = await sqlite_database(tmp_path / "c.db")
    s = CallStore(
        db,
        Settings(data_dir=tmp_path, call_log_max_bytes=200, calls_max_per_fn=5),
        flush_interval=0.05,
        grace_s=0.05,
    )
    yield s
    await s.close()
    await db.close()


def record(fn_id: str = "F", created: datetime | None = None, **kw: object) -> CallRecord:
    rec = CallRecord(new_call_id(), fn_id, "A", "success", created or datetime.now(UTC))
    for k, v in kw.items():
        setattr(rec, k, v)
    return rec


async def test_finish_is_written_in_background(store: CallStore) -> None:
    rec = record(http_status=200, run_ms=1.5, start_path="hot")
    store.finish(rec, None)
    await asyncio.sleep(0.3)
    assert not store._pending
    got = await store.get("F", rec.id)
    assert got.http_status == 200 and got.run_ms == 1.5 and got.start_path == "hot"
    assert got.created_at.tzinfo is not None


async def test_running_call_is_visible(store: CallStore) -> None:
    rec = record()
    rec.status = "running"
    store.running(rec)
    assert (await store.get("F", rec.id)).status == "running"
    items, _ = await store.list("F")
    assert [r.id for r in items] == [rec.id]


async def test_get_unknown_or_other_fn_is_404(store: CallStore) -> None:
    rec = record()
    store.finish(rec, None)
    with pytest.raises(NotFound):
        await store.get("OTHER", rec.id)
    with pytest.raises(NotFound):
        await store.get("F", "nope")
    with pytest.raises(NotFound):
        await store.get_log("F", "nope")


async def test_log_is_kept_and_bounded(store: CallStore) -> None:
    rec = record()
    log = CallLog(200)
    for i in range(50):
        log.add("stderr", f"line {i}")
    store.finish(rec, log)
    text = await store.get_log("F", rec.id)
    assert text.startswith("stderr: line 0\n")
    assert "dropped" in text and len(text) < 400


async def test_no_log_reads_as_empty(store: CallStore) -> None:
    rec = record()
    store.finish(rec, None)
    assert await store.get_log("F", rec.id) == ""


async def test_list_newest_first_with_cursor(store: CallStore) -> None:
    recs = [record() for _ in range(5)]
    for r in recs:
        store.finish(r, None)
    page1, cursor = await store.list("F", per_page=3)
    assert [r.id for r in page1] == [r.id for r in reversed(recs)][:3]
    assert cursor
    page2, cursor2 = await store.list("F", cursor=cursor, per_page=3)
    assert [r.id for r in page2] == [recs[1].id, recs[0].id] and cursor2 is None


async def test_prune_applies_retention_and_per_fn_cap(store: CallStore) -> None:
    old = record(created=datetime.now(UTC) - timedelta(days=30))
    store.finish(old, None)
    recs = [record() for _ in range(8)]
    for r in recs:
        store.finish(r, None)
    await store.flush()
    removed = await store.prune()
    assert removed == 4  # the old one, then the cap of 5 removes 3 more
    items, _ = await store.list("F", per_page=100)
    assert [r.id for r in items] == [r.id for r in reversed(recs)][:5]


async def test_close_flushes(tmp_path: Path) -> None:
    db = await sqlite_database(tmp_path / "x.db")
    s = CallStore(db, Settings(data_dir=tmp_path), flush_interval=60)
    rec = record()
    s.finish(rec, None)
    await s.close()
    s2 = CallStore(db, Settings(data_dir=tmp_path))
    assert (await s2.get("F", rec.id)).id == rec.id
    await s2.close()
    await db.close()


def test_sqlite_rows_store_timestamps_as_sqlalchemy_does() -> None:
    moment = datetime(2026, 12, 3, 16, 0, 5, 0, tzinfo=UTC)
    bind = (
        sa.DateTime(timezone=True).dialect_impl(sqlite.dialect()).bind_processor(sqlite.dialect())
    )
    assert bind is not None
    assert sqlite_time(moment) == bind(moment) == "2026-12-03 16:00:05.000000"
    assert sqlite_time(None) is None
    # The date and time to the second are reused within a second, never across one.
    moments = [
        moment.replace(microsecond=123456), moment.replace(microsecond=999999),
        moment.replace(second=6, microsecond=1), moment.replace(minute=1, second=6),
        moment.replace(day=4, second=6), moment.replace(year=2027, second=6),
        moment.replace(month=1), moment.replace(hour=17, microsecond=42), moment,
    ]  # fmt: skip
    assert [sqlite_time(m) for m in moments] == [bind(m) for m in moments]

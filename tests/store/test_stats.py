"""Call statistics from the call store, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hotfn.agent.call_log import new_call_id
from hotfn.config import Settings
from hotfn.store import Store
from hotfn.store.call_records import CallStore
from hotfn.store.stats import StatsCache, bin_value, call_stats, latency_bin, percentile
from hotfn.types import CallRecord


def rec(fn_id: str, created: datetime, ms: float, status: str = "success",
        path: str = "hot") -> CallRecord:  # fmt: skip
    return CallRecord(
        new_call_id(), fn_id, "A", status, created,
        completed_at=created + timedelta(milliseconds=ms), start_path=path,
    )  # fmt: skip


def test_percentile_is_nearest_rank_over_counts() -> None:
    values = Counter(float(v) for v in range(1, 101))
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(Counter({7.0: 3}), 0.99) == 7.0
    assert percentile(Counter({1.0: 98, 9.0: 2}), 0.99) == 9.0
    assert percentile(Counter(), 0.5) is None


@pytest.mark.parametrize(
    ("ms", "binned"),
    [(0.0, 0.0), (0.042, 0.042), (0.099, 0.099), (1.234, 1.25), (1.27, 1.25), (987.0, 985.0)],
)
def test_latency_bins_keep_two_significant_digits(ms: float, binned: float) -> None:
    assert bin_value(*latency_bin(ms)) == pytest.approx(binned)


async def test_stats_read_written_and_pending_records(
    open_store: Callable[..., Any], tmp_path: Any
) -> None:
    store: Store = await open_store()
    calls = CallStore(store.db, Settings(data_dir=tmp_path), flush_interval=60)
    now = datetime.now(UTC)
    for i in range(10):
        calls.finish(rec("F", now - timedelta(seconds=25), float(i + 1)), None)
    calls.finish(rec("F", now - timedelta(seconds=15), 500.0, "error", "cold"), None)
    calls.finish(rec("G", now - timedelta(seconds=15), 1.0, path="specialized"), None)
    calls.finish(rec("F", now - timedelta(hours=2), 1.0), None)  # outside the window
    await calls.flush()
    # Not written yet, still counted:
    calls.finish(rec("F", now - timedelta(seconds=5), 2.0, path="prewarmed"), None)

    body = (await call_stats(calls, "F", 60, 6, now=now)).view()
    totals = body["totals"]
    assert totals["calls"] == 12 and totals["errors"] == 1
    assert totals["first_calls"] == {"cold": 1, "prewarmed": 1}
    # Two significant digits: within 5 % (both backends bin alike).
    assert totals["p50_ms"] == pytest.approx(5.0, rel=0.05)
    assert totals["p99_ms"] == pytest.approx(500.0, rel=0.05)
    assert totals["calls_per_s"] == 0.2
    assert [b["calls"] for b in body["buckets"]] == [0, 0, 0, 10, 1, 1]
    assert body["window_s"] == 60 and body["bucket_s"] == 10

    everything = (await call_stats(calls, None, 60, 6, now=now)).view()
    assert everything["totals"]["calls"] == 13
    assert everything["totals"]["first_calls"] == {"cold": 1, "prewarmed": 1, "specialized": 1}
    await calls.close()


async def test_calls_list_filters_by_status(open_store: Callable[..., Any], tmp_path: Any) -> None:
    store: Store = await open_store()
    calls = CallStore(store.db, Settings(data_dir=tmp_path), flush_interval=60)
    now = datetime.now(UTC)
    ok = rec("F", now, 1.0)
    bad = rec("F", now, 1.0, "error")
    calls.finish(ok, None)
    calls.finish(bad, None)
    await calls.flush()
    late = rec("F", now, 1.0, "error")
    calls.finish(late, None)  # pending, from memory
    errors, _ = await calls.list("F", status="error")
    assert [r.id for r in errors] == [late.id, bad.id]
    fine, _ = await calls.list("F", status="success")
    assert [r.id for r in fine] == [ok.id]
    await calls.close()


async def test_stats_cache_reuses_an_answer_within_its_ttl(
    open_store: Callable[..., Any], tmp_path: Any
) -> None:
    store: Store = await open_store()
    calls = CallStore(store.db, Settings(data_dir=tmp_path), flush_interval=60)
    reusing, fresh = StatsCache(calls, ttl_s=3600), StatsCache(calls, ttl_s=0)
    first = await reusing.view("F", 60, 6)
    await fresh.view("F", 60, 6)
    calls.finish(rec("F", datetime.now(UTC), 1.0), None)
    assert (await reusing.view("F", 60, 6)) is first  # the same answer, not recomputed
    assert (await reusing.view("F", 60, 3))["totals"]["calls"] == 1  # another key
    assert (await fresh.view("F", 60, 6))["totals"]["calls"] == 1
    await calls.close()

"""Call statistics over a time window, from the call records (``GET /v2/stats`` and
``GET /v2/fns/{fn_id}/stats``; the dashboard at ``/ui`` draws them).

The window is cut into equal buckets; each bucket counts calls (by their start),
errors, first calls by start path (every path but ``hot`` started a container) and
the p50/p99 of the calls' latency: created to completed, as the server saw the call.
Reads only: records come from the database plus what the store holds in memory, so
computing stats never writes and never touches the call path.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hotfn.store import tables
from hotfn.store.calls import CallStore
from hotfn.store.ids import id_floor
from hotfn.types import CallRecord

MAX_ROWS = 50_000  # newest records read per request; more sets ``truncated``
_COLUMNS = ("id", "fn_id", "status", "created_at", "completed_at", "start_path")
FAILED = frozenset({"error", "timeout", "cancelled"})


@dataclass
class Bucket:
    start: datetime
    calls: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    first_calls: dict[str, int] = field(default_factory=dict)

    def add(self, rec: CallRecord) -> None:
        self.calls += 1
        if rec.status in FAILED:
            self.errors += 1
        if rec.start_path and rec.start_path != "hot":
            self.first_calls[rec.start_path] = self.first_calls.get(rec.start_path, 0) + 1
        if rec.completed_at is not None:
            ms = (rec.completed_at - rec.created_at).total_seconds() * 1000
            self.latencies.append(max(ms, 0.0))


@dataclass
class Stats:
    since: datetime
    bucket_s: float
    buckets: list[Bucket]
    truncated: bool = False

    def view(self) -> dict[str, Any]:
        """The JSON body (``hotfn.api.stats.CallStats``)."""
        total = Bucket(self.since)
        for b in self.buckets:
            total.calls += b.calls
            total.errors += b.errors
            total.latencies += b.latencies
            for path, n in b.first_calls.items():
                total.first_calls[path] = total.first_calls.get(path, 0) + n
        window_s = self.bucket_s * len(self.buckets)
        return {
            "since": _rfc3339(self.since),
            "window_s": window_s,
            "bucket_s": self.bucket_s,
            "truncated": self.truncated,
            "totals": _bucket_view(total, window_s),
            "buckets": [_bucket_view(b, self.bucket_s) for b in self.buckets],
        }


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..1) of an ascending sequence."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return round(sorted_values[rank - 1], 3)


def _bucket_view(b: Bucket, seconds: float) -> dict[str, Any]:
    lat = sorted(b.latencies)
    return {
        "start": _rfc3339(b.start),
        "calls": b.calls,
        "calls_per_s": round(b.calls / seconds, 3) if seconds > 0 else 0.0,
        "errors": b.errors,
        "p50_ms": percentile(lat, 0.5),
        "p99_ms": percentile(lat, 0.99),
        "first_calls": dict(sorted(b.first_calls.items())),
    }


def bucketize(
    records: Iterable[CallRecord], now: datetime, window_s: int, buckets: int
) -> list[Bucket]:
    """Records into ``buckets`` equal buckets ending at ``now`` (older ones skipped)."""
    size = window_s / buckets
    since = now - timedelta(seconds=window_s)
    out = [Bucket(since + timedelta(seconds=i * size)) for i in range(buckets)]
    for rec in records:
        offset = (rec.created_at - since).total_seconds()
        if offset < 0:
            continue
        out[min(int(offset / size), buckets - 1)].add(rec)
    return out


async def call_stats(
    calls: CallStore,
    fn_id: str | None,
    window_s: int,
    buckets: int,
    now: datetime | None = None,
) -> Stats:
    """Stats of one fn (or of every fn with ``fn_id=None``) over the last ``window_s``."""
    now = now or datetime.now(UTC)
    since = now - timedelta(seconds=window_s)
    t = tables.calls
    query = sa.select(*[t.c[name] for name in _COLUMNS]).where(
        t.c.id >= id_floor(int(since.timestamp() * 1000)), t.c.created_at >= since
    )
    if fn_id is not None:
        query = query.where(t.c.fn_id == fn_id)
    query = query.order_by(t.c.id.desc()).limit(MAX_ROWS)
    async with calls.db.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    merged: dict[str, CallRecord] = {}
    for row in rows:
        created = _utc(row.created_at)
        completed = _utc(row.completed_at) if row.completed_at is not None else None
        merged[row.id] = CallRecord(
            row.id, row.fn_id, "", row.status, created,
            completed_at=completed, start_path=row.start_path,
        )  # fmt: skip
    for rec in calls.in_memory():
        if fn_id is None or rec.fn_id == fn_id:
            merged[rec.id] = rec
    return Stats(since, window_s / buckets, bucketize(merged.values(), now, window_s, buckets),
                 truncated=len(rows) >= MAX_ROWS)  # fmt: skip


class StatsCache:
    """Answers reused for ``ttl_s``: any number of open dashboards polling the same
    window cost the server one computation per ``ttl_s``, not one each."""

    def __init__(self, calls: CallStore, ttl_s: float = 0.5) -> None:
        self.calls = calls
        self.ttl_s = ttl_s
        self._entries: dict[tuple[str | None, int, int], tuple[float, dict[str, Any]]] = {}

    async def view(self, fn_id: str | None, window_s: int, buckets: int) -> dict[str, Any]:
        """The JSON body of :func:`call_stats` (``Stats.view``), at most ``ttl_s`` old."""
        key = (fn_id, window_s, buckets)
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        body = (await call_stats(self.calls, fn_id, window_s, buckets)).view()
        if len(self._entries) > 1000:  # many fns or windows: start over
            self._entries.clear()
        self._entries[key] = (now, body)
        return body


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

"""Call records and logs: written in batches off the call path, read by the API.

The agent hands each finished call to :meth:`CallStore.finish` — an append to a list,
no I/O. A background task writes what has accumulated every ``flush_interval``
seconds in one transaction, waiting ``grace_s`` after a call ends so log lines the
engine delivers slightly late still make it into that call's log. Reads merge what
is not written yet from memory, so a record is visible as soon as its call has
answered (and while it runs).

Size is bounded three ways: each log by ``Settings.call_log_max_bytes``, each fn by
``Settings.calls_max_per_fn`` records, everything by ``Settings.calls_retention_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hotfn.config import Settings
from hotfn.errors import NotFound
from hotfn.store import tables
from hotfn.store.common import decode_cursor, encode_cursor, page_size
from hotfn.types import CallRecord

log = logging.getLogger("hotfn.store.call_records")

_MAX_PENDING = 20_000  # records kept in memory while the database is unreachable
_PRUNE_EVERY_S = 60.0
_FIELDS = (
    "id", "fn_id", "app_id", "status", "http_status", "error", "created_at", "started_at",
    "completed_at", "queued_ms", "start_ms", "run_ms", "start_path", "container_id", "attempts",
)  # fmt: skip


class LogSource(Protocol):
    """A call's log as the agent keeps it (``hotfn.agent.call_log.CallLog``)."""

    def text(self) -> str: ...


class HasEngine(Protocol):
    """What the store needs of ``hotfn.store.db.Database``."""

    @property
    def engine(self) -> AsyncEngine: ...


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; they were stored as UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _record(row: Any) -> CallRecord:
    rec = CallRecord(**{name: getattr(row, name) for name in _FIELDS})
    rec.created_at = _utc(rec.created_at) or rec.created_at
    rec.started_at = _utc(rec.started_at)
    rec.completed_at = _utc(rec.completed_at)
    return rec


class _Pending:
    __slots__ = ("done_at", "log", "record")

    def __init__(self, record: CallRecord, call_log: LogSource | None) -> None:
        self.record = record
        self.log = call_log
        self.done_at = time.monotonic()


class CallStore:
    """Keeps call records and logs (``GET /v2/fns/{fn_id}/calls...``)."""

    def __init__(
        self,
        db: HasEngine,
        settings: Settings,
        flush_interval: float = 0.5,
        grace_s: float = 0.3,
    ) -> None:
        self.db = db
        self.settings = settings
        self.flush_interval = flush_interval
        self.grace_s = grace_s
        self._running: dict[str, CallRecord] = {}
        self._pending: dict[str, _Pending] = {}  # insertion-ordered: oldest first
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._touched: set[str] = set()  # fns with new records since the last prune
        self._last_prune = time.monotonic()
        self.dropped = 0

    # -- the call path (no I/O) -------------------------------------------------

    def running(self, record: CallRecord) -> None:
        """A call has started; visible to reads until it finishes."""
        self._running[record.id] = record

    def finish(self, record: CallRecord, call_log: LogSource | None) -> None:
        """A call has ended; its record (and log) will be written shortly."""
        self._running.pop(record.id, None)
        pending = self._pending
        if len(pending) >= _MAX_PENDING:
            # The database has been unreachable for a while: drop the oldest.
            del pending[next(iter(pending))]
            self.dropped += 1
        pending[record.id] = _Pending(record, call_log)
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._flush_loop())

    # -- writing ----------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush(force=False)
                if time.monotonic() - self._last_prune >= _PRUNE_EVERY_S:
                    await self.prune()
            except Exception as exc:  # the database is down: keep records, retry
                log.warning("could not write call records: %s", exc)

    async def flush(self, force: bool = True) -> int:
        """Write pending records; ``force=False`` leaves those still in their grace
        period. Returns how many were written."""
        async with self._lock:
            cutoff = time.monotonic() - (0 if force else self.grace_s)
            batch = [p for p in self._pending.values() if p.done_at <= cutoff]
            if not batch:
                return 0
            limit = self.settings.call_log_max_bytes
            rows = [{name: getattr(p.record, name) for name in _FIELDS} for p in batch]
            logs = []
            for p in batch:
                if p.log is None:
                    continue
                text = p.log.text()
                # CallLog is already bounded (plus a one-line note of what it dropped);
                # this guards against other log sources.
                if len(text) > limit + 256:
                    text = text[:limit] + "\n[hotfn: log truncated]\n"
                if text:
                    logs.append(
                        {
                            "call_id": p.record.id,
                            "fn_id": p.record.fn_id,
                            "log": text,
                            "created_at": p.record.created_at,
                        }
                    )
            # A detached call's record is of its latest attempt: replace earlier ones.
            again = [p.record.id for p in batch if p.record.attempts is not None]
            async with self.db.engine.begin() as conn:
                if again:
                    await conn.execute(sa.delete(tables.calls).where(tables.calls.c.id.in_(again)))
                    await conn.execute(
                        sa.delete(tables.call_logs).where(tables.call_logs.c.call_id.in_(again))
                    )
                await conn.execute(tables.calls.insert(), rows)
                if logs:
                    await conn.execute(tables.call_logs.insert(), logs)
            for p in batch:
                self._pending.pop(p.record.id, None)
                self._touched.add(p.record.fn_id)
            return len(batch)

    async def prune(self) -> int:
        """Apply retention and the per-fn cap; return how many records were removed."""
        self._last_prune = time.monotonic()
        touched, self._touched = self._touched, set()
        calls, logs = tables.calls, tables.call_logs
        cutoff = datetime.now(UTC) - timedelta(seconds=self.settings.calls_retention_s)
        removed = 0
        async with self.db.engine.begin() as conn:
            res = await conn.execute(sa.delete(calls).where(calls.c.created_at < cutoff))
            removed += res.rowcount or 0
            await conn.execute(sa.delete(logs).where(logs.c.created_at < cutoff))
            keep = self.settings.calls_max_per_fn
            for fn_id in touched:
                # Ids are time-sortable: everything older than the keep-th newest goes.
                oldest_kept = await conn.scalar(
                    sa.select(calls.c.id)
                    .where(calls.c.fn_id == fn_id)
                    .order_by(calls.c.id.desc())
                    .offset(keep - 1)
                    .limit(1)
                )
                if oldest_kept is None:
                    continue
                res = await conn.execute(
                    sa.delete(calls).where(calls.c.fn_id == fn_id, calls.c.id < oldest_kept)
                )
                removed += res.rowcount or 0
                await conn.execute(
                    sa.delete(logs).where(logs.c.fn_id == fn_id, logs.c.call_id < oldest_kept)
                )
        return removed

    async def close(self) -> None:
        """Stop the background writer and write what is pending (best effort)."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception as exc:
            log.warning("could not write %d call records at close: %s", len(self._pending), exc)

    # -- reading ----------------------------------------------------------------

    def reading(self) -> asyncio.Lock:
        """Hold (``async with``) to read the database and :meth:`in_memory` with no
        record in both: writes wait meanwhile; the call path never takes it."""
        return self._lock

    def in_memory(self) -> list[CallRecord]:
        """Records not written yet: calls running and calls pending their write."""
        return [*self._running.values(), *(p.record for p in self._pending.values())]

    async def list(
        self,
        fn_id: str,
        cursor: str | None = None,
        per_page: int | None = None,
        status: str | None = None,
    ) -> tuple[Sequence[CallRecord], str | None]:
        """Records of ``fn_id`` (with ``status`` if given), newest first, and the next
        page's cursor (if full).

        Calls still running or not yet written are served from memory, so reads never
        force a write (which would cut a call's log short of its grace period).
        """
        size = page_size(per_page)
        after = decode_cursor(cursor) if cursor else None
        calls = tables.calls
        query = sa.select(*[calls.c[name] for name in _FIELDS]).where(calls.c.fn_id == fn_id)
        if after is not None:
            query = query.where(calls.c.id < after)
        if status is not None:
            query = query.where(calls.c.status == status)
        query = query.order_by(calls.c.id.desc()).limit(size)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        merged = {r.id: r for r in map(_record, rows)}
        for rec in self.in_memory():
            if rec.fn_id != fn_id or (status is not None and rec.status != status):
                continue
            if after is None or rec.id < after:
                merged[rec.id] = rec
        records = sorted(merged.values(), key=lambda r: r.id, reverse=True)[:size]
        nxt = encode_cursor(records[-1].id) if len(records) >= size else None
        return records, nxt

    async def get(self, fn_id: str, call_id: str) -> CallRecord:
        """One record; ``NotFound`` if there is none for this fn."""
        live = self._running.get(call_id)
        if live is None and (pending := self._pending.get(call_id)) is not None:
            live = pending.record
        if live is not None and live.fn_id == fn_id:
            return live
        calls = tables.calls
        query = sa.select(*[calls.c[name] for name in _FIELDS]).where(
            calls.c.id == call_id, calls.c.fn_id == fn_id
        )
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(f"call {call_id} of fn {fn_id} not found")
        return _record(row)

    async def get_log(self, fn_id: str, call_id: str) -> str:
        """The log of one call ("" if it wrote nothing); ``NotFound`` if no such call."""
        await self.get(fn_id, call_id)
        pending = self._pending.get(call_id)
        if pending is not None:
            return pending.log.text() if pending.log is not None else ""
        if call_id in self._running:
            return ""
        logs = tables.call_logs
        async with self.db.engine.connect() as conn:
            text = await conn.scalar(
                sa.select(logs.c.log).where(logs.c.call_id == call_id, logs.c.fn_id == fn_id)
            )
        return text or ""

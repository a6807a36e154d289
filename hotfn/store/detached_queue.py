"""Detached calls: the durable queue (table ``queued_calls``).

A detached call is a row before its 202 is sent (:meth:`DetachedQueue.enqueue`), so a
server killed right after answering loses nothing. Enqueues (and the end of attempts)
arriving while a write is in flight wait and share the next transaction (group
commit: one fsync on SQLite, one commit on PostgreSQL, for any number of callers).

A dispatcher (``hotfn.agent.detached``) claims rows: each claim sets ``lease_owner``
and ``lease_until``; the owner renews the lease while the call runs. A row whose lease
ran out (its server died) is ready again, so every call runs **at least once**, and
once more for each server that died while running it. On PostgreSQL several servers
share the table: claims take rows ``FOR UPDATE SKIP LOCKED``, so a row is claimed by
one server at a time, and each enqueue sends ``NOTIFY hotfn_queue`` at commit so idle
dispatchers wake at once instead of polling hot.

Statuses: ``queued`` (waiting for its first attempt), ``running``, ``error`` or
``timeout`` (the last attempt ended so and another is due at ``run_at``), and the two
final ones, ``success`` and ``failed`` (the dead letter: out of attempts, past its
max age, or an error not worth retrying, with the reason in ``error``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotfn.errors import Conflict, HotfnError, NotFound, TooBusy
from hotfn.store.common import decode_cursor, now, page_size, utc
from hotfn.store.db import Database
from hotfn.store.tables import queued_calls as qc

log = logging.getLogger("hotfn.store.detached_queue")

CHANNEL = "hotfn_queue"
WAITING = ("queued", "error", "timeout")  # may run once run_at has come
OPEN = (*WAITING, "running")  # not ended: counts against the queue bound
FINAL = ("success", "failed")
T = TypeVar("T")
_LAZY_S = 0.02


class _Group:
    """One shared write transaction: its connection, the open-call count the bound
    check keeps up to date across the group's enqueues, the rows they insert and the
    calls that succeeded (one statement each for the whole group), and whether to
    NOTIFY."""

    __slots__ = ("conn", "inserts", "notify", "open_calls", "successes")

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.open_calls: int | None = None
        self.inserts: list[dict[str, Any]] = []
        self.successes: dict[str, str | None] = {}  # call id → lease owner
        self.notify = False

    async def write(self) -> None:
        """The statements the group's writes left for the end."""
        if self.inserts:
            await self.conn.execute(qc.insert(), self.inserts)
            self.notify = True
        by_owner: dict[str | None, list[str]] = {}
        for call_id, owner in self.successes.items():
            by_owner.setdefault(owner, []).append(call_id)
        for owner, ids in by_owner.items():
            await self.conn.execute(
                qc.update()
                .where(qc.c.id.in_(ids), qc.c.lease_owner == owner, qc.c.status == "running")
                .values(
                    status="success", http_status=200, error=None, lease_owner=None,
                    lease_until=None, completed_at=now(), body=None,
                )
            )  # fmt: skip


Op = Callable[[_Group], Awaitable[T]]


@dataclass
class QueuedCall:
    """One detached call as the queue keeps it."""

    id: str
    fn_id: str
    app_id: str
    method: str
    url: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    max_response: int
    created_at: datetime
    expires_at: datetime
    status: str = "queued"
    attempts: int = 0
    run_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    http_status: int | None = None
    error: str | None = None


@dataclass
class QueueStats:
    """Open calls per fn and the creation time of the oldest one (metrics)."""

    depth: dict[str, int] = field(default_factory=dict)
    oldest: datetime | None = None


def _row(call: QueuedCall) -> dict[str, Any]:
    return {
        "id": call.id, "fn_id": call.fn_id, "app_id": call.app_id, "status": call.status,
        "attempts": call.attempts, "method": call.method, "url": call.url,
        "headers": json.dumps([list(h) for h in call.headers]), "body": call.body,
        "max_response": call.max_response, "created_at": call.created_at,
        "run_at": call.run_at or call.created_at, "expires_at": call.expires_at,
        "lease_owner": call.lease_owner, "lease_until": call.lease_until,
        "started_at": call.started_at,
    }  # fmt: skip


def _call(row: Any) -> QueuedCall:
    def ts(value: datetime | None) -> datetime | None:
        return None if value is None else utc(value)

    return QueuedCall(
        id=row.id, fn_id=row.fn_id, app_id=row.app_id, method=row.method, url=row.url,
        headers=[(k, v) for k, v in json.loads(row.headers)], body=row.body or b"",
        max_response=row.max_response, created_at=utc(row.created_at),
        expires_at=utc(row.expires_at), status=row.status, attempts=row.attempts,
        run_at=ts(row.run_at), lease_owner=row.lease_owner, lease_until=ts(row.lease_until),
        started_at=ts(row.started_at), completed_at=ts(row.completed_at),
        http_status=row.http_status, error=row.error,
    )  # fmt: skip


def _ready(at: datetime) -> sa.ColumnElement[bool]:
    """Rows a dispatcher may claim at ``at``: due, or held by a lease that ran out."""
    return sa.or_(
        sa.and_(qc.c.status.in_(WAITING), qc.c.run_at <= at),
        sa.and_(qc.c.status == "running", qc.c.lease_until < at),
    )


class DetachedQueue:
    """The queue's reads and writes; ``bound`` open calls at most (0: no bound)."""

    def __init__(self, db: Database, bound: int = 0, origin: str = "") -> None:
        self.db = db
        self.bound = bound
        self.origin = origin  # this server's NOTIFY payload: its own echo is ignored
        self._batch: list[tuple[Op[Any], asyncio.Future[Any], bool]] = []
        self._writer: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[], None]] = []
        self._pg: Any = None  # asyncpg connection LISTENing on CHANNEL
        self.commits = 0  # shared write transactions (fewer than the writes in them)

    def subscribe(self, listener: Callable[[], None]) -> None:
        """``listener()`` runs when calls were enqueued here or (PostgreSQL) anywhere."""
        self._listeners.append(listener)

    def _wake(self) -> None:
        for listener in self._listeners:
            listener()

    # -- group commit ----------------------------------------------------------------

    async def _grouped(self, op: Op[T], lazy: bool = False) -> T:
        """Run ``op`` in the next shared write transaction; its result after commit.

        Writes arriving while a transaction is in flight wait and share the next one,
        so N concurrent enqueues (or finishes) cost one commit, not N. A group of only
        ``lazy`` writes (successes: losing one to a crash means the call runs again,
        which at-least-once allows) waits ``_LAZY_S`` for company first."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._batch.append((op, fut, lazy))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_batches())
        result: T = await fut
        return result

    async def _write_batches(self) -> None:
        try:
            while self._batch:
                if all(lazy for _, _, lazy in self._batch):
                    await asyncio.sleep(_LAZY_S)
                batch, self._batch = self._batch, []
                results: list[Any] = []
                try:
                    async with self.db.engine.begin() as conn:
                        group = _Group(conn)
                        for op, _, _ in batch:
                            results.append(await op(group))
                        await group.write()
                        if group.notify:
                            await self._notify(conn)
                except Exception as exc:
                    for _, fut, _ in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                self.commits += 1
                for (_, fut, _), result in zip(batch, results, strict=True):
                    if fut.done():
                        continue  # the caller went away; what it wrote is kept all the same
                    if isinstance(result, HotfnError):
                        fut.set_exception(result)
                    else:
                        fut.set_result(result)
                if group.notify:
                    self._wake()
        finally:
            self._writer = None

    # -- enqueue -----------------------------------------------------------------------

    async def enqueue(self, call: QueuedCall) -> None:
        """Store ``call``; returns once it is committed. Raises ``TooBusy`` (503 with
        Retry-After) when the queue holds ``bound`` open calls: nothing is stored."""

        async def insert(group: _Group) -> HotfnError | None:
            if self.bound:
                if group.open_calls is None:
                    group.open_calls = int(
                        await group.conn.scalar(
                            sa.select(sa.func.count()).select_from(qc).where(qc.c.status.in_(OPEN))
                        )
                        or 0
                    )
                if group.open_calls >= self.bound:
                    return TooBusy(
                        f"the detached-call queue is full ({self.bound} calls waiting or "
                        "running, HOTFN_DETACHED_QUEUE_MAX); retry later",
                        retry_after=5,
                    )
                group.open_calls += 1
            group.inserts.append(_row(call))
            return None

        await self._grouped(insert)

    async def _notify(self, conn: AsyncConnection) -> None:
        if self.db.is_postgres:  # sent at commit, never for a rollback
            await conn.execute(sa.select(sa.func.pg_notify(CHANNEL, self.origin)))

    # -- the dispatcher's side -------------------------------------------------------

    async def claim(
        self, owner: str, free: int, per_fn: int, busy: Mapping[str, int], lease_s: float
    ) -> list[QueuedCall]:
        """Claim up to ``free`` ready calls for ``owner``: oldest first within each fn,
        fns taken in the order of their oldest ready call, at most ``per_fn`` running
        here per fn (``busy`` says how many run now). Each claimed row is ``running``
        with its attempt counted and a lease of ``lease_s`` seconds."""
        at = now()
        claimed: list[QueuedCall] = []
        async with self.db.engine.begin() as conn:
            heads = (
                await conn.execute(
                    sa.select(qc.c.fn_id, sa.func.min(qc.c.id).label("first"))
                    .where(_ready(at))
                    .group_by(qc.c.fn_id)
                    .order_by("first")
                )
            ).all()
            until = at + timedelta(seconds=lease_s)
            for head in heads:
                take = min(per_fn - busy.get(head.fn_id, 0), free - len(claimed))
                if take <= 0:
                    continue
                oldest = (
                    sa.select(qc.c.id)
                    .where(qc.c.fn_id == head.fn_id, _ready(at))
                    .order_by(qc.c.id)
                    .limit(take)
                )
                if self.db.is_postgres:
                    # Locked first, in a statement of its own: rows another server is
                    # claiming are skipped, and a LIMIT subquery inside the UPDATE
                    # could be rescanned (and lock other rows) by some plans.
                    locked = oldest.with_for_update(skip_locked=True)
                    ids = list((await conn.execute(locked)).scalars())
                    if not ids:
                        continue
                    pick = qc.c.id.in_(ids)
                else:  # one writer: the UPDATE picks them itself
                    pick = qc.c.id.in_(oldest.scalar_subquery())
                rows = await conn.execute(
                    qc.update()
                    .where(pick)
                    .values(
                        status="running", attempts=qc.c.attempts + 1, lease_owner=owner,
                        lease_until=until, started_at=at,
                    )
                    .returning(*qc.c)
                )  # fmt: skip
                claimed += sorted((_call(r) for r in rows.all()), key=lambda c: c.id)
                if len(claimed) >= free:
                    break
        return claimed

    async def renew(self, owner: str, ids: Sequence[str], lease_s: float) -> None:
        """Extend the leases of ``owner``'s running calls ``ids``."""
        if not ids:
            return
        async with self.db.engine.begin() as conn:
            await conn.execute(
                qc.update()
                .where(qc.c.id.in_(list(ids)), qc.c.lease_owner == owner)
                .where(qc.c.status == "running")
                .values(lease_until=now() + timedelta(seconds=lease_s))
            )

    async def reclaim(self, owner: str) -> int:
        """Calls ``owner`` was running when it died (this server's earlier life):
        ready again now, without waiting for their leases to run out."""
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                qc.update()
                .where(qc.c.status == "running", qc.c.lease_owner == owner)
                .values(status="queued", lease_owner=None, lease_until=None, run_at=now())
            )
        return result.rowcount or 0

    async def finish(
        self,
        call: QueuedCall,
        status: str,
        http_status: int | None = None,
        error: str | None = None,
        run_at: datetime | None = None,
        follow_up: QueuedCall | None = None,
        lazy: bool = False,
    ) -> bool:
        """End ``call``'s attempt: ``success``, ``failed``, ``error``/``timeout`` (due
        again at ``run_at``) or ``queued`` (given back unrun, attempt not counted).
        ``follow_up`` (the on-failure fn's call) is enqueued in the same transaction.
        False if the lease was lost meanwhile (another server owns the call now)."""
        values: dict[str, Any] = {
            "status": status, "http_status": http_status, "error": error,
            "lease_owner": None, "lease_until": None,
        }  # fmt: skip
        if status in FINAL:
            values["completed_at"] = now()
        if status == "success":
            values["body"] = None  # no re-drive of a success: the body is not needed
        if status == "queued":
            values["attempts"] = qc.c.attempts - 1
        if run_at is not None:
            values["run_at"] = run_at

        async def update(group: _Group) -> bool:
            if status == "success" and follow_up is None:
                group.successes[call.id] = call.lease_owner
                return True  # (a lease lost meanwhile: the call ran twice, as allowed)
            result = await group.conn.execute(
                qc.update()
                .where(qc.c.id == call.id, qc.c.lease_owner == call.lease_owner)
                .where(qc.c.status == "running")
                .values(**values)
            )
            if not result.rowcount:
                return False
            if follow_up is not None:
                await group.conn.execute(qc.insert(), [_row(follow_up)])
                group.notify = True
            return True

        return await self._grouped(update, lazy)

    async def redrive(self, fn_id: str, call_id: str, expires_at: datetime) -> QueuedCall:
        """Queue a ``failed`` call again with a fresh set of attempts; ``NotFound``,
        or ``Conflict`` if it has not failed."""
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                qc.update()
                .where(qc.c.id == call_id, qc.c.fn_id == fn_id, qc.c.status == "failed")
                .values(
                    status="queued", attempts=0, run_at=now(), expires_at=expires_at,
                    error=None, http_status=None, completed_at=None,
                )
            )  # fmt: skip
            row = (await conn.execute(sa.select(qc).where(qc.c.id == call_id))).first()
            if row is None or row.fn_id != fn_id:
                raise NotFound(f"detached call {call_id} of fn {fn_id} not found")
            if not result.rowcount:
                raise Conflict(f"call {call_id} is {row.status}: only failed calls can be retried")
            await self._notify(conn)
        self._wake()
        return _call(row)

    # -- reads ---------------------------------------------------------------------

    async def get(self, call_id: str) -> QueuedCall | None:
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(sa.select(qc).where(qc.c.id == call_id))).first()
        return None if row is None else _call(row)

    async def list(
        self,
        fn_id: str,
        cursor: str | None = None,
        per_page: int | None = None,
        status: str | None = None,
        ids: Sequence[str] = (),
    ) -> list[QueuedCall]:
        """Detached calls of ``fn_id`` newest first (as ``CallStore.list`` pages),
        plus any of ``ids`` (calls the page of records holds)."""
        query = sa.select(qc).where(qc.c.fn_id == fn_id)
        if cursor:
            query = query.where(qc.c.id < decode_cursor(cursor))
        if status is not None:
            query = query.where(qc.c.status == status)
        query = query.order_by(qc.c.id.desc()).limit(page_size(per_page))
        async with self.db.engine.connect() as conn:
            rows = list((await conn.execute(query)).all())
            if ids:
                extra = sa.select(qc).where(qc.c.id.in_(list(ids)), qc.c.fn_id == fn_id)
                rows += (await conn.execute(extra)).all()
        return [_call(r) for r in rows]

    async def stats(self) -> QueueStats:
        async with self.db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(qc.c.fn_id, sa.func.count(), sa.func.min(qc.c.created_at))
                    .where(qc.c.status.in_(OPEN))
                    .group_by(qc.c.fn_id)
                )
            ).all()
        stats = QueueStats({r[0]: int(r[1]) for r in rows})
        oldest = [utc(r[2]) for r in rows if r[2] is not None]
        stats.oldest = min(oldest) if oldest else None
        return stats

    async def prune(self, retention_s: float) -> int:
        """Remove ended calls older than ``retention_s``."""
        cutoff = now() - timedelta(seconds=retention_s)
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                qc.delete().where(qc.c.status.in_(FINAL), qc.c.completed_at < cutoff)
            )
        return result.rowcount or 0

    # -- PostgreSQL wake-ups -----------------------------------------------------------

    async def listen(self) -> None:
        """(PostgreSQL) LISTEN for other servers' enqueues; reconnects when called
        again after the connection was lost (the dispatcher's slow poll does)."""
        if not self.db.is_postgres or (self._pg is not None and not self._pg.is_closed()):
            return
        import asyncpg

        self._pg = await asyncpg.connect(self.db.dsn)
        await self._pg.add_listener(CHANNEL, self._on_notify)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload != self.origin or not self.origin:  # this server woke itself already
            self._wake()

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._pg is not None:
            await self._pg.close()
            self._pg = None

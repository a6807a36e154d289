"""/v2/fns/{fn_id}/calls: call records and logs (Fn's calls API, which Fn itself
answers with 410 today).

Records are listed newest first; ``next_cursor`` appears only when the page is full.
A detached call's status, attempts and error come from the durable queue
(``hotfn.store.detached_queue``), its timing and container from the record of its
latest attempt; ``POST .../calls/{call_id}/retry`` runs a failed one again.
The log route answers JSON (Fn's shape, ``{"log": {"call_id", "log"}}``) or, when the
client asks for ``text/plain``, the bare text.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.responses import PlainTextResponse, Response

from hotfn.api.models import ErrorBody
from hotfn.api.views import rfc3339
from hotfn.errors import NotFound
from hotfn.server_state import Runtime
from hotfn.store.common import encode_cursor, page_size
from hotfn.store.detached_queue import WAITING, QueuedCall
from hotfn.types import CallRecord

router = APIRouter(prefix="/v2/fns/{fn_id}/calls", tags=["calls"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid input"},
    404: {"model": ErrorBody, "description": "Fn or call not found"},
}


class CallOut(BaseModel):
    """One call. Times in ms: ``queued_ms`` waiting for a container, ``start_ms``
    starting the container it ran in (first call of that container, or a cold run),
    ``run_ms`` from container assignment to the answer."""

    id: str
    fn_id: str
    app_id: str
    status: str  # queued | running | success | error | timeout | failed | cancelled
    http_status: int | None = None
    error: str | None = None
    created_at: str
    started_at: str | None = None
    completed_at: str | None = None
    queued_ms: float | None = None
    start_ms: float | None = None
    run_ms: float | None = None
    start_path: str | None = None  # hot, image, specialised, prewarmed or pulled
    container_id: str | None = None
    attempts: int | None = None  # detached calls: attempts made so far
    next_attempt_at: str | None = None  # detached calls: when the next attempt is due


class CallList(BaseModel):
    items: list[CallOut]
    next_cursor: str | None = None


class CallLogBody(BaseModel):
    call_id: str
    log: str


class CallLogOut(BaseModel):
    message: str = "Successfully loaded log"
    log: CallLogBody


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _view(rec: CallRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "fn_id": rec.fn_id,
        "app_id": rec.app_id,
        "status": rec.status,
        "http_status": rec.http_status,
        "error": rec.error,
        "created_at": rfc3339(rec.created_at),
        "started_at": rfc3339(rec.started_at) if rec.started_at else None,
        "completed_at": rfc3339(rec.completed_at) if rec.completed_at else None,
        "queued_ms": _ms(rec.queued_ms),
        "start_ms": _ms(rec.start_ms),
        "run_ms": _ms(rec.run_ms),
        "start_path": rec.start_path,
        "container_id": rec.container_id,
        "attempts": rec.attempts,
        "next_attempt_at": None,
    }


def _detached_view(call: QueuedCall, rec: CallRecord | None) -> dict[str, Any]:
    """A detached call: the queue's state over its latest attempt's record."""
    view = (
        _view(rec)
        if rec is not None
        else _view(CallRecord(call.id, call.fn_id, call.app_id, call.status, call.created_at))
    )
    waiting = call.status in WAITING
    # The record's start is the container's; the queue's is when the call was claimed.
    started = (rec.started_at if rec else None) or (call.started_at if call.attempts else None)
    view.update(
        status=call.status,
        attempts=call.attempts,
        error=call.error if call.error or call.status != "running" else view["error"],
        http_status=call.http_status if call.status != "running" else None,
        started_at=rfc3339(started) if started else None,
        completed_at=rfc3339(call.completed_at) if call.completed_at else None,
        next_attempt_at=rfc3339(call.run_at) if waiting and call.run_at else None,
    )
    return view


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def _check_fn(request: Request, fn_id: str) -> None:
    await _runtime(request).cache.target(fn_id)  # NotFound if there is no such fn


Status = Literal["queued", "running", "success", "error", "timeout", "failed", "cancelled"]


@router.get("", response_model=CallList, responses=_ERRORS)
async def list_calls(
    request: Request,
    fn_id: str,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    per_page: Annotated[
        int | None, Query(ge=1, le=1_000_000, description="default 30, max 100")
    ] = None,
    status: Annotated[
        Status | None,
        Query(description="only calls with this status (failed: the dead letters)"),
    ] = None,
) -> dict[str, Any]:
    """Calls of a fn, newest first (records are kept for a bounded time and count)."""
    await _check_fn(request, fn_id)
    rt = _runtime(request)
    records, _ = await rt.calls.list(fn_id, cursor, per_page, status)
    by_id = {r.id: r for r in records}
    queued = await rt.dispatcher.queue.list(fn_id, cursor, per_page, status, list(by_id))
    views = {r.id: _view(r) for r in records}
    for call in queued:
        views[call.id] = _detached_view(call, by_id.get(call.id))
    size = page_size(per_page)
    items = sorted(views.values(), key=lambda v: str(v["id"]), reverse=True)
    if status is not None:
        items = [v for v in items if v["status"] == status]
    items = items[:size]
    nxt = encode_cursor(str(items[-1]["id"])) if len(items) >= size else None
    return {"items": items, "next_cursor": nxt}


@router.get("/{call_id}", response_model=CallOut, responses=_ERRORS)
async def get_call(request: Request, fn_id: str, call_id: str) -> dict[str, Any]:
    """One call's record."""
    await _check_fn(request, fn_id)
    rt = _runtime(request)
    call = await rt.dispatcher.queue.get(call_id)
    if call is None or call.fn_id != fn_id:
        return _view(await rt.calls.get(fn_id, call_id))
    try:
        rec: CallRecord | None = await rt.calls.get(fn_id, call_id)
    except NotFound:
        rec = None  # not run yet
    return _detached_view(call, rec)


@router.post(
    "/{call_id}/retry",
    status_code=202,
    response_model=CallOut,
    responses={**_ERRORS, 409: {"model": ErrorBody, "description": "The call has not failed"}},
)
async def retry_call(request: Request, fn_id: str, call_id: str) -> dict[str, Any]:
    """Run a ``failed`` detached call again (a re-drive from the dead letters), with a
    fresh set of attempts; 409 if it has not failed."""
    rt = _runtime(request)
    target = await rt.cache.target(fn_id)
    call = await rt.dispatcher.redrive(target, call_id)
    call.status, call.attempts, call.error, call.completed_at = "queued", 0, None, None
    return _detached_view(call, None)


@router.get(
    "/{call_id}/log",
    response_model=CallLogOut,
    responses={**_ERRORS, 200: {"content": {"text/plain": {}}, "description": "The log"}},
)
async def get_call_log(request: Request, fn_id: str, call_id: str) -> Any:
    """What the function wrote to stdout/stderr during the call (bounded)."""
    await _check_fn(request, fn_id)
    text = await _runtime(request).calls.get_log(fn_id, call_id)
    accept = request.headers.get("accept", "")
    if "text/plain" in accept and "application/json" not in accept:
        response: Response = PlainTextResponse(text)
        return response
    return {"message": "Successfully loaded log", "log": {"call_id": call_id, "log": text}}

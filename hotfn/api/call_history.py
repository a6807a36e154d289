"""/v2/fns/{fn_id}/calls: call records and logs (Fn's calls API, which Fn itself
answers with 410 today).

Records are listed newest first; ``next_cursor`` appears only when the page is full.
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
from hotfn.server_state import Runtime
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
    status: str  # running | success | error | timeout | cancelled
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
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def _check_fn(request: Request, fn_id: str) -> None:
    await _runtime(request).cache.target(fn_id)  # NotFound if there is no such fn


@router.get("", response_model=CallList, responses=_ERRORS)
async def list_calls(
    request: Request,
    fn_id: str,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    per_page: Annotated[
        int | None, Query(ge=1, le=1_000_000, description="default 30, max 100")
    ] = None,
    status: Annotated[
        Literal["running", "success", "error", "timeout", "cancelled"] | None,
        Query(description="only calls with this status"),
    ] = None,
) -> dict[str, Any]:
    """Calls of a fn, newest first (records are kept for a bounded time and count)."""
    await _check_fn(request, fn_id)
    records, nxt = await _runtime(request).calls.list(fn_id, cursor, per_page, status)
    return {"items": [_view(r) for r in records], "next_cursor": nxt}


@router.get("/{call_id}", response_model=CallOut, responses=_ERRORS)
async def get_call(request: Request, fn_id: str, call_id: str) -> dict[str, Any]:
    """One call's record."""
    await _check_fn(request, fn_id)
    return _view(await _runtime(request).calls.get(fn_id, call_id))


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

"""/v2/stats and /v2/fns/{fn_id}/stats: what the dashboard's charts draw, for the CLI
and scripts too.

Both answer call statistics over a window (``?window=5m``, cut into ``?buckets=``
equal buckets) computed from the call records (``hotfn.store.stats``); the server's
also counts its containers by state, calls in flight and calls queued. These routes
only read: they never write a record and take no lock the call path takes, and an
answer is reused for half a second, so many open dashboards cost what one does.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from hotfn.api.models import ErrorBody
from hotfn.errors import InvalidInput
from hotfn.server_state import Runtime
from hotfn.store.stats import StatsCache

router = APIRouter(tags=["stats"])

WINDOW_MIN_S = 10
WINDOW_MAX_S = 7 * 24 * 3600
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WINDOW = re.compile(r"^([0-9]{1,7})([smhd]?)$")
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid input"},
    404: {"model": ErrorBody, "description": "Fn not found"},
}

Window = Annotated[
    str,
    Query(
        max_length=16,
        description="how far back: seconds, or a number with s, m, h or d (10s..7d)",
        examples=["5m"],
    ),
]
Buckets = Annotated[int, Query(ge=1, le=240, description="buckets in the window (1..240)")]


class BucketOut(BaseModel):
    """Calls that started in ``[start, start + bucket_s)``; latency is created to
    completed in ms (``None`` without finished calls); ``first_calls`` counts calls
    that started a container, by start path."""

    start: str
    calls: int
    calls_per_s: float
    errors: int
    p50_ms: float | None = None
    p99_ms: float | None = None
    first_calls: dict[str, int]


class CallStats(BaseModel):
    since: str
    window_s: float
    bucket_s: float
    totals: BucketOut
    buckets: list[BucketOut]


class Containers(BaseModel):
    starting: int = 0
    idle: int = 0
    busy: int = 0
    generic: int = 0  # warm generic containers waiting to become a fn's first container


class ServerStats(BaseModel):
    containers: Containers
    inflight: int
    queued: int
    fns_with_containers: int
    calls: CallStats


def parse_window(value: str) -> int:
    """``"90"``, ``"90s"``, ``"5m"``, ``"1h"``, ``"2d"`` → seconds (400 otherwise)."""
    match = _WINDOW.match(value.strip())
    if not match:
        raise InvalidInput(
            f"window {value!r} is not a duration: use seconds or a number with s, m, h "
            "or d (e.g. 5m)"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not WINDOW_MIN_S <= seconds <= WINDOW_MAX_S:
        raise InvalidInput(f"window must be between 10s and 7d, not {value!r}")
    return seconds


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _cache(request: Request) -> StatsCache:
    state = request.app.state
    cache: StatsCache | None = getattr(state, "stats_cache", None)
    if cache is None or cache.calls is not state.runtime.calls:
        cache = state.stats_cache = StatsCache(state.runtime.calls)
    return cache


@router.get("/v2/fns/{fn_id}/stats", response_model=CallStats, responses=_ERRORS)
async def fn_stats(
    request: Request, fn_id: str, window: Window = "5m", buckets: Buckets = 30
) -> dict[str, Any]:
    """Calls/s, errors, p50/p99 latency and first calls by start path of one fn."""
    seconds = parse_window(window)
    rt = _runtime(request)
    await rt.cache.target(fn_id)  # NotFound if there is no such fn
    return await _cache(request).view(fn_id, seconds, buckets)


@router.get("/v2/stats", response_model=ServerStats, responses={400: _ERRORS[400]})
async def server_stats(
    request: Request, window: Window = "5m", buckets: Buckets = 30
) -> dict[str, Any]:
    """The server's containers by state, calls in flight and queued, and the call
    statistics of every fn together."""
    seconds = parse_window(window)
    rt = _runtime(request)
    agent = rt.agent
    containers = {"starting": 0, "idle": 0, "busy": 0, "generic": 0}
    fns: set[str] = set()
    for fn_id, state, count in agent.container_counts():
        containers[state] = containers.get(state, 0) + count
        if count:
            fns.add(fn_id)
    containers["generic"] = agent.generic_count()
    return {
        "containers": containers,
        "inflight": agent.inflight,
        "queued": sum(depth for _, depth in agent.queue_depths()),
        "fns_with_containers": len(fns),
        "calls": await _cache(request).view(None, seconds, buckets),
    }

"""/v2/stats, /v2/fns/{id}/stats and the calls list's status filter, in-process on
the fake driver, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server_support import in_process_client

Obj = dict[str, Any]


@pytest.fixture
async def client(
    tmp_path: Path, backend: str, make_db_url: Callable[[str], str]
) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_client(tmp_path, db_url=make_db_url(backend)) as c:
        yield c


async def make_fn(client: httpx.AsyncClient) -> Obj:
    app = (await client.post("/v2/apps", json={"name": "a" + secrets.token_hex(3)})).json()
    body = {"name": "f", "app_id": app["id"], "image": "fake/echo"}
    resp = await client.post("/v2/fns", json=body)
    assert resp.status_code == 200, resp.text
    fn: Obj = resp.json()
    return fn


async def test_fn_stats_count_calls_errors_and_first_calls(client: httpx.AsyncClient) -> None:
    fn = await make_fn(client)
    empty = (await client.get(f"/v2/fns/{fn['id']}/stats")).json()
    assert empty["totals"]["calls"] == 0 and empty["totals"]["p50_ms"] is None
    assert len(empty["buckets"]) == 30 and empty["window_s"] == 300
    for body in (b"a", b"b", b"raise"):
        await client.post(f"/invoke/{fn['id']}", content=body)
    resp = await client.get(f"/v2/fns/{fn['id']}/stats", params={"window": "1m", "buckets": 6})
    assert resp.status_code == 200, resp.text
    stats = resp.json()
    assert stats["totals"]["calls"] == 3 and stats["totals"]["errors"] == 1
    assert sum(stats["totals"]["first_calls"].values()) == 1  # one container started
    assert stats["totals"]["p99_ms"] is not None
    assert stats["buckets"][-1]["calls"] == 3 and len(stats["buckets"]) == 6


async def test_server_stats_count_containers_and_all_calls(client: httpx.AsyncClient) -> None:
    fn = await make_fn(client)
    other = await make_fn(client)
    await client.post(f"/invoke/{fn['id']}", content=b"x")
    await client.post(f"/invoke/{other['id']}", content=b"x")
    stats = (await client.get("/v2/stats", params={"window": "90s"})).json()
    assert stats["containers"]["idle"] == 2 and stats["containers"]["busy"] == 0
    assert stats["fns_with_containers"] == 2
    assert stats["inflight"] == 0 and stats["queued"] == 0
    assert stats["calls"]["totals"]["calls"] == 2 and stats["calls"]["window_s"] == 90


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"window": "5x"}, "not a duration"),
        ({"window": "1s"}, "between 10s and 7d"),
        ({"window": "30d"}, "between 10s and 7d"),
        ({"buckets": "0"}, "buckets"),
        ({"buckets": "many"}, "buckets"),
    ],
)
async def test_bad_stats_parameters_are_400(
    client: httpx.AsyncClient, params: dict[str, str], words: str
) -> None:
    fn = await make_fn(client)
    for path in ("/v2/stats", f"/v2/fns/{fn['id']}/stats"):
        resp = await client.get(path, params=params)
        assert resp.status_code == 400, resp.text
        assert words in resp.json()["message"]


async def test_stats_of_unknown_fn_is_404(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v2/fns/01ARZ3NDEKTSV4RRFFQ69G5FAV/stats")
    assert resp.status_code == 404


async def test_calls_list_filters_by_status(client: httpx.AsyncClient) -> None:
    fn = await make_fn(client)
    for body in (b"a", b"raise", b"b"):
        await client.post(f"/invoke/{fn['id']}", content=body)
    calls = f"/v2/fns/{fn['id']}/calls"
    errors = (await client.get(calls, params={"status": "error"})).json()["items"]
    assert [c["status"] for c in errors] == ["error"]
    ok = (await client.get(calls, params={"status": "success"})).json()["items"]
    assert len(ok) == 2 and all(c["status"] == "success" for c in ok)
    bad = await client.get(calls, params={"status": "exploded"})
    assert bad.status_code == 400 and "status" in bad.json()["message"]


async def test_stats_routes_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/v2/stats" in paths and "/v2/fns/{fn_id}/stats" in paths
    params = {p["name"] for p in paths["/v2/fns/{fn_id}/calls"]["get"]["parameters"]}
    assert "status" in params

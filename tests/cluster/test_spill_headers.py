"""The server's side of spilling: its own 503s name nginx's spill location when told
to, and a function can never send nginx an X-Accel-* header of its own."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hotfn.agent.httpstream import (
    HOP_BY_HOP_B,
    CallResult,
    clean_response_headers,
    trigger_response,
)
from tests.server_support import in_process_client


async def _too_busy_call(client: httpx.AsyncClient) -> httpx.Response:
    app = (await client.post("/v2/apps", json={"name": "spill"})).json()
    # 128 MB asked of a 100 MB budget: the agent answers 503 before any container.
    body = {"name": "f", "app_id": app["id"], "image": "fake/echo", "memory": 128}
    fn = (await client.post("/v2/fns", json=body)).json()
    return await client.post(f"/invoke/{fn['id']}", content=b"x")


@pytest.mark.parametrize("spill_to", ["@hotfn_spill", ""])
async def test_own_503_carries_the_spill_location_only_when_told(
    tmp_path: Path, spill_to: str
) -> None:
    async with in_process_client(tmp_path, memory_budget_mb=100, spill_to=spill_to) as client:
        resp = await _too_busy_call(client)
    assert resp.status_code == 503
    assert resp.headers.get("retry-after")
    assert resp.headers.get("x-accel-redirect") == (spill_to or None)


def test_x_accel_headers_of_a_function_are_dropped() -> None:
    raw = [(b"X-Accel-Redirect", b"/v2/apps"), (b"X-Accel-Buffering", b"no"), (b"X-Own", b"1")]
    assert clean_response_headers(raw) == [(b"x-own", b"1")]
    assert b"x-accel-redirect" in HOP_BY_HOP_B  # the hot path's parser drops these too
    wrapped = [(b"fn-http-status", b"503"), (b"fn-http-h-x-accel-redirect", b"@hotfn_spill")]
    status, headers = trigger_response(CallResult(200, wrapped, b"own"), "call1")
    assert status == 503
    assert all(not name.startswith(b"x-accel") for name, _ in headers)

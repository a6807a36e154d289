"""/invoke, /t and the calls API, in-process, on the fake driver."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server_support import in_process_client
from tests.waiting import until

Obj = dict[str, Any]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_client(tmp_path, max_queue_wait=5.0) as c:
        yield c


@pytest.fixture
def make_fn(client: httpx.AsyncClient) -> Callable[..., Awaitable[Obj]]:
    async def make(**fields: Any) -> Obj:
        app = (await client.post("/v2/apps", json={"name": "a" + secrets.token_hex(3)})).json()
        body = {"name": "f", "app_id": app["id"], "image": "fake/echo", **fields}
        resp = await client.post("/v2/fns", json=body)
        assert resp.status_code == 200, resp.text
        fn: Obj = resp.json()
        fn["app_name"] = app["name"]
        return fn

    return make


async def make_trigger(client: httpx.AsyncClient, fn: Obj, source: str) -> None:
    body = {"name": "t", "app_id": fn["app_id"], "fn_id": fn["id"], "type": "http",
            "source": source}  # fmt: skip
    resp = await client.post("/v2/triggers", json=body)
    assert resp.status_code == 200, resp.text


async def test_invoke_returns_body_headers_and_call_id(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn()
    resp = await client.post(
        f"/invoke/{fn['id']}", content=b"hello", headers={"Content-Type": "text/x"}
    )
    assert resp.status_code == 200
    assert resp.content == b"hello"
    assert resp.headers["content-type"] == "text/x"
    assert resp.headers["fn-fdk-version"] == "fake/1"
    assert len(resp.headers["fn-call-id"]) == 26


async def test_invoke_errors_carry_call_id(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    timeout_s = 1
    fn = await make_fn(timeout=timeout_s)
    resp = await client.post(f"/invoke/{fn['id']}", content=b"raise")
    assert resp.status_code == 502 and resp.json() == {"message": "function failed"}
    assert resp.headers["fn-call-id"]
    started = time.monotonic()
    resp = await client.post(f"/invoke/{fn['id']}", content=b"hang")
    elapsed = time.monotonic() - started
    assert resp.status_code == 504 and resp.json() == {"message": "Timed out"}
    # The 504 is the fn's timeout: not before it, and not long after (a deadline that
    # is not enforced would hang here until the client gave up).
    assert timeout_s - 0.05 <= elapsed < timeout_s + 2, elapsed
    resp = await client.post("/invoke/01ARZ3NDEKTSV4RRFFQ69G5FAV", content=b"x")
    assert resp.status_code == 404


async def test_invoke_other_methods_405(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn()
    assert (await client.get(f"/invoke/{fn['id']}")).status_code == 405


async def test_detached_is_202_and_recorded(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn()
    resp = await client.post(
        f"/invoke/{fn['id']}", content=b"log:bg", headers={"Fn-Invoke-Type": "detached"}
    )
    assert resp.status_code == 202
    call_id = resp.headers["fn-call-id"]

    async def record() -> Obj:
        got: Obj = (await client.get(f"/v2/fns/{fn['id']}/calls/{call_id}")).json()
        return got

    async def finished() -> bool:
        return (await record()).get("status") not in (None, "queued", "running")

    await until(finished, what="the detached call is recorded as finished")
    rec = await record()
    assert rec["status"] == "success" and rec["http_status"] == 200


async def test_trigger_maps_status_and_headers(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn()
    await make_trigger(client, fn, "/hook/x")
    resp = await client.post(f"/t/{fn['app_name']}/hook/x?q=1", content=b"http:201")
    assert resp.status_code == 201
    assert resp.headers["x-fake"] == "yes"
    assert "fn-http-status" not in resp.headers and "fn-fdk-version" not in resp.headers
    assert resp.headers["fn-call-id"]
    resp = await client.put(f"/t/{fn['app_name']}/hook/x", content=b"raise")
    assert resp.status_code == 502 and resp.headers["fn-call-id"]
    resp = await client.get(f"/t/{fn['app_name']}/hook/y")
    assert resp.status_code == 404


async def test_trigger_sends_http_headers(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn()
    await make_trigger(client, fn, "/h")
    resp = await client.request(
        "PATCH", f"/t/{fn['app_name']}/h?a=b", content=b"headers", headers={"X-In": "1"}
    )
    got = resp.json()
    assert got["fn-http-method"] == "PATCH"
    assert got["fn-http-request-url"] == f"http://testserver/t/{fn['app_name']}/h?a=b"
    assert got["fn-http-h-x-in"] == "1" and got["fn-intent"] == "httprequest"


async def test_calls_api_lists_gets_and_logs(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn()
    ids = []
    for body in (b"log:first line", b"raise"):
        resp = await client.post(f"/invoke/{fn['id']}", content=body)
        ids.append(resp.headers["fn-call-id"])

    async def logged() -> bool:
        resp = await client.get(f"/v2/fns/{fn['id']}/calls/{ids[0]}/log")
        return resp.status_code == 200 and "first line" in resp.json()["log"]["log"]

    # The log lines reach the record within the grace period after the call.
    await until(logged, what="the first call's log line is recorded")
    listing = (await client.get(f"/v2/fns/{fn['id']}/calls")).json()
    assert [c["id"] for c in listing["items"]] == ids[::-1]
    assert listing["next_cursor"] is None
    first = (await client.get(f"/v2/fns/{fn['id']}/calls/{ids[0]}")).json()
    assert first["status"] == "success" and first["start_path"] == "image"
    assert first["queued_ms"] >= 0 and first["run_ms"] > 0
    failed = (await client.get(f"/v2/fns/{fn['id']}/calls/{ids[1]}")).json()
    assert failed["status"] == "error" and failed["http_status"] == 502
    assert failed["start_path"] == "hot"
    log = (await client.get(f"/v2/fns/{fn['id']}/calls/{ids[0]}/log")).json()
    assert log["log"]["call_id"] == ids[0] and "first line" in log["log"]["log"]
    text = await client.get(
        f"/v2/fns/{fn['id']}/calls/{ids[0]}/log", headers={"Accept": "text/plain"}
    )
    assert "first line" in text.text
    missing = await client.get(f"/v2/fns/{fn['id']}/calls/01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert missing.status_code == 404 and "message" in missing.json()


async def test_default_format_via_invoke(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn(format="default")
    resp = await client.post(f"/invoke/{fn['id']}", content=b"Bob")
    assert resp.status_code == 200 and resp.content == b"Hello Bob from Fake!\n"
    resp = await client.post(f"/invoke/{fn['id']}", content=b"exit:2")
    assert resp.status_code == 502 and "exit code 2" in resp.json()["message"]


async def test_fn_update_drains_pool(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn(config={"V": "1"})
    await client.post(f"/invoke/{fn['id']}", content=b"x")
    resp = await client.put(f"/v2/fns/{fn['id']}", json={"config": {"V": "2"}})
    assert resp.status_code == 200
    resp = await client.post(f"/invoke/{fn['id']}", content=b"y")
    assert resp.status_code == 200
    runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
    assert [p.target.env["V"] for p in runtime.agent.pools() if p.containers] == ["2"]


async def test_front_answers_calls_before_fastapi(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    from hotfn.api.front import HotfnApp

    app = client._transport.app  # type: ignore[attr-defined]
    assert isinstance(app, HotfnApp)
    fn = await make_fn()
    await make_trigger(client, fn, "/a/b")

    # Calls never reach FastAPI's own middleware stack: replace it with one that fails.
    async def refuse(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError(f"{scope['path']} went through FastAPI's stack")

    real, app.middleware_stack = app.middleware_stack, refuse
    try:
        resp = await client.post(f"/invoke/{fn['id']}", content=b"x")
        assert resp.status_code == 200 and resp.content == b"x"
        resp = await client.get(f"/invoke/{fn['id']}")
        assert resp.status_code == 405 and resp.headers["allow"] == "POST"
        resp = await client.post(f"/t/{fn['app_name']}/a/b", content=b"http:202")
        assert resp.status_code == 202 and resp.headers["x-fake"] == "yes"
    finally:
        app.middleware_stack = real
    assert (await client.get("/version")).status_code == 200  # everything else passes


async def test_front_turns_a_crash_into_500(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]], monkeypatch: Any
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    fn = await make_fn()

    async def crash(*_args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.state.runtime.agent, "call", crash)
    lenient = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=lenient, base_url="http://testserver") as c:
        resp = await c.post(f"/invoke/{fn['id']}", content=b"x")
    assert resp.status_code == 500
    assert resp.json() == {"message": "internal server error; the server log has details"}
    with pytest.raises(RuntimeError, match="a bug"):  # re-raised for the server to log
        await client.post(f"/invoke/{fn['id']}", content=b"x")

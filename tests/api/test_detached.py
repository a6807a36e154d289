"""Detached calls in-process on the fake driver (SQLite): retries, dead letters,
on-failure, re-drive, limits and group commit. The real-engine and PostgreSQL runs
of the same behaviour are in tests/detached."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from hotfn.agent.detached_policy import backoff_s, parse_age
from tests.server_support import in_process_client
from tests.waiting import until

Obj = dict[str, Any]
DETACHED = {"Fn-Invoke-Type": "detached"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_client(
        tmp_path, detached_backoff_s=0.02, detached_poll_s=0.2, detached_queue_max=50
    ) as c:
        yield c


@pytest.fixture
def make_fn(client: httpx.AsyncClient) -> Callable[..., Awaitable[Obj]]:
    async def make(**annotations: Any) -> Obj:
        app = (await client.post("/v2/apps", json={"name": "a" + secrets.token_hex(3)})).json()
        body = {"name": "f", "app_id": app["id"], "image": "fake/echo",
                "annotations": annotations}  # fmt: skip
        resp = await client.post("/v2/fns", json=body)
        assert resp.status_code == 200, resp.text
        fn: Obj = resp.json()
        return fn

    return make


async def detached(client: httpx.AsyncClient, fn: Obj, body: bytes) -> str:
    resp = await client.post(f"/invoke/{fn['id']}", content=body, headers=DETACHED)
    assert resp.status_code == 202, resp.text
    call_id: str = resp.headers["fn-call-id"]
    return call_id


async def record(client: httpx.AsyncClient, fn: Obj, call_id: str) -> Obj:
    resp = await client.get(f"/v2/fns/{fn['id']}/calls/{call_id}")
    assert resp.status_code == 200, resp.text
    got: Obj = resp.json()
    return got


async def ended(client: httpx.AsyncClient, fn: Obj, call_id: str) -> Obj:
    async def done() -> bool:
        return (await record(client, fn, call_id))["status"] in ("success", "failed")

    await until(done, within_s=20, what=f"call {call_id} ends")
    return await record(client, fn, call_id)


async def test_success_goes_through_the_queue_with_one_attempt(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn()
    rec = await ended(client, fn, await detached(client, fn, b"log:hello"))
    assert (rec["status"], rec["attempts"], rec["http_status"]) == ("success", 1, 200)
    assert rec["started_at"] and rec["completed_at"] and rec["start_path"]


async def test_always_failing_call_makes_1_plus_retries_attempts_then_fails(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    sink = await make_fn()
    fn = await make_fn(**{"hotfn.io/async-retries": 3, "hotfn.io/on-failure": sink["id"]})
    call_id = await detached(client, fn, b"raise")
    rec = await ended(client, fn, call_id)
    assert (rec["status"], rec["attempts"]) == ("failed", 4)
    assert rec["error"] == "attempt 4 of 4 failed: function failed"
    failed = (await client.get(f"/v2/fns/{fn['id']}/calls", params={"status": "failed"})).json()
    assert [c["id"] for c in failed["items"]] == [call_id]

    # The on-failure fn got one call of its own (it fails too on this body, and its
    # failure is not forwarded again).
    async def sink_call() -> list[Obj]:
        items: list[Obj] = (await client.get(f"/v2/fns/{sink['id']}/calls")).json()["items"]
        return [c for c in items if c["status"] in ("success", "failed")]

    await until(sink_call, within_s=20, what="the on-failure fn's call ends")
    [forwarded] = await sink_call()
    assert forwarded["status"] == "failed" and "on-failure" not in forwarded["error"]

    # Re-drive: queued again with fresh attempts, and it runs them all again.
    resp = await client.post(f"/v2/fns/{fn['id']}/calls/{call_id}/retry")
    assert resp.status_code == 202, resp.text
    assert (resp.json()["status"], resp.json()["attempts"]) == ("queued", 0)

    async def again() -> bool:
        got = await record(client, fn, call_id)
        return got["status"] == "failed" and got["completed_at"] is not None

    await until(again, within_s=20, what="the re-driven call fails again")
    assert (await record(client, fn, call_id))["attempts"] == 4


async def test_retry_of_a_call_that_has_not_failed_is_409(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn()
    call_id = await detached(client, fn, b"ok")
    await ended(client, fn, call_id)
    resp = await client.post(f"/v2/fns/{fn['id']}/calls/{call_id}/retry")
    assert resp.status_code == 409, resp.text
    resp = await client.post(f"/v2/fns/{fn['id']}/calls/01JD5Q3W3ZQ8F4N5X2Y7K9M0AB/retry")
    assert resp.status_code == 404, resp.text


async def test_retries_zero_fails_after_one_attempt(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn(**{"hotfn.io/async-retries": 0})
    rec = await ended(client, fn, await detached(client, fn, b"raise"))
    assert (rec["status"], rec["attempts"]) == ("failed", 1)


async def test_body_over_the_detached_limit_is_413_and_stores_nothing(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn()
    resp = await client.post(
        f"/invoke/{fn['id']}", content=b"x" * (256 * 1024 + 1), headers=DETACHED
    )
    assert resp.status_code == 413, resp.text
    assert "256" in resp.json()["message"] or "262144" in resp.json()["message"]
    items = (await client.get(f"/v2/fns/{fn['id']}/calls")).json()["items"]
    assert items == []
    # Exactly at the limit is fine.
    call_id = await detached(client, fn, b"x" * (256 * 1024))
    assert (await ended(client, fn, call_id))["status"] == "success"


async def test_full_queue_is_503_with_retry_after_and_stores_nothing(tmp_path: Path) -> None:
    # A server that runs no detached call (max running 0) keeps what it accepts queued.
    async with in_process_client(tmp_path, detached_queue_max=50, detached_max_running=0) as client:
        app = (await client.post("/v2/apps", json={"name": "full"})).json()
        fn_body = {"name": "f", "app_id": app["id"], "image": "fake/echo"}
        fn = (await client.post("/v2/fns", json=fn_body)).json()
        sent = await asyncio.gather(
            *(
                client.post(f"/invoke/{fn['id']}", content=b"ok", headers=DETACHED)
                for _ in range(60)
            )
        )
        codes = [r.status_code for r in sent]
        assert codes.count(202) == 50 and codes.count(503) == 10, codes
        assert all(r.headers["retry-after"] == "5" for r in sent if r.status_code == 503)
        accepted = {r.headers["fn-call-id"] for r in sent if r.status_code == 202}
        page = await client.get(f"/v2/fns/{fn['id']}/calls", params={"per_page": 100})
        items = page.json()["items"]
        assert {c["id"] for c in items} == accepted  # no record of the refused ones
        assert {c["status"] for c in items} == {"queued"}


async def test_concurrent_enqueues_share_commits(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn()
    transport = client._transport
    app = transport.app  # type: ignore[attr-defined]
    queue = app.state.runtime.dispatcher.queue
    before = queue.commits
    sent = await asyncio.gather(
        *(client.post(f"/invoke/{fn['id']}", content=b"ok", headers=DETACHED) for _ in range(40))
    )
    assert all(r.status_code == 202 for r in sent)
    assert queue.commits - before < 40  # group commit: fewer transactions than calls


def test_max_age_annotation_forms() -> None:
    assert [parse_age(v) for v in (30, "30", "45s", "15m", "6h", "1d")] == [
        30, 30, 45, 900, 21600, 86400,
    ]  # fmt: skip
    assert parse_age("soon") == 6 * 3600 and parse_age("99d") == 7 * 86400


def test_backoff_doubles_with_jitter_within_bounds() -> None:
    for attempt, full in ((1, 1.0), (2, 2.0), (3, 4.0), (20, 300.0)):
        delays = [backoff_s(attempt, 1.0) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > 0  # jittered, not all the same


async def test_a_busy_fn_does_not_starve_another(tmp_path: Path) -> None:
    async with in_process_client(tmp_path, detached_per_fn=1) as client:
        app = (await client.post("/v2/apps", json={"name": "fair"})).json()
        fns = []
        for name in ("busy", "quiet"):
            body = {"name": name, "app_id": app["id"], "image": "fake/echo"}
            fns.append((await client.post("/v2/fns", json=body)).json())
        busy, quiet = fns
        backlog = [await detached(client, busy, b"sleep:0.05") for _ in range(30)]
        late = await detached(client, quiet, b"ok")
        rec = await ended(client, quiet, late)
        last = await ended(client, busy, backlog[-1])
        # The quiet fn's call, sent after all 30, ended before the busy fn's backlog.
        assert rec["completed_at"] < last["completed_at"]


async def test_metrics_count_depth_retries_and_dead_letters(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn(**{"hotfn.io/async-retries": 1})
    await ended(client, fn, await detached(client, fn, b"raise"))

    def sample(text: str, name: str) -> float:
        for line in text.splitlines():
            if line.startswith(f'{name}{{fn="{fn["id"]}"}}'):
                return float(line.split()[-1])
        return 0.0

    text = (await client.get("/metrics")).text
    assert sample(text, "hotfn_detached_retries_total") == 1
    assert sample(text, "hotfn_detached_dead_letters_total") == 1
    assert sample(text, "hotfn_detached_enqueued_total") == 1
    assert "hotfn_detached_oldest_age_seconds" in text


async def test_depth_metric_shows_waiting_calls(tmp_path: Path) -> None:
    # This server runs none, so the call waits; the depth shows at the next poll.
    async with in_process_client(tmp_path, detached_max_running=0, detached_poll_s=0.05) as client:
        app = (await client.post("/v2/apps", json={"name": "depth"})).json()
        body = {"name": "f", "app_id": app["id"], "image": "fake/echo"}
        fn = (await client.post("/v2/fns", json=body)).json()
        await detached(client, fn, b"ok")

        async def deep() -> bool:
            text = (await client.get("/metrics")).text
            return f'hotfn_detached_queue_depth{{fn="{fn["id"]}"}} 1.0' in text

        await until(deep, what="the queue depth metric shows the waiting call")


async def test_default_format_fn_sees_call_id_and_attempt_in_its_environment(
    client: httpx.AsyncClient,
) -> None:
    app = (await client.post("/v2/apps", json={"name": "envs"})).json()
    body = {"name": "f", "app_id": app["id"], "image": "fake/echo", "format": "default",
            "annotations": {"hotfn.io/async-retries": 1}}  # fmt: skip
    fn = (await client.post("/v2/fns", json=body)).json()
    call_id = await detached(client, fn, b"exit:3")
    rec = await ended(client, fn, call_id)
    assert (rec["status"], rec["attempts"]) == ("failed", 2)
    app_state = client._transport.app.state  # type: ignore[attr-defined]
    specs = app_state.runtime.agent.driver.inner.default_format_specs
    seen = [(s.env["FN_CALL_ID"], s.env["FN_ATTEMPT"]) for s in specs]
    assert seen == [(call_id, "1"), (call_id, "2")]


async def test_a_server_stopped_right_after_start_stops(tmp_path: Path) -> None:
    # The dispatcher is woken at start; a stop that lands as that wait ends once had
    # its cancel swallowed by wait_for (Python 3.11), and the shutdown hung forever.
    # 30 s is a hang guard, not a timing: a stop takes milliseconds.
    async def start_and_stop() -> None:
        async with in_process_client(tmp_path) as client:
            assert (await client.get("/ui/session")).status_code == 200

    for _ in range(3):
        await asyncio.wait_for(start_and_stop(), 30)


async def _asgi_post(
    client: httpx.AsyncClient, path: str, messages: list[Obj]
) -> tuple[int, bytes]:
    """POST a detached call straight to the ASGI app, its body as ``messages`` (then
    nothing more ever arrives): (status, body) of the answer."""
    transport = client._transport  # the app itself: httpx cannot send a disconnect
    assert isinstance(transport, httpx.ASGITransport)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "server": ("testserver", 80), "client": ("127.0.0.1", 1),
        "headers": [(b"host", b"testserver"), (b"fn-invoke-type", b"detached"),
                    (b"transfer-encoding", b"chunked")],
    }  # fmt: skip
    pending = list(messages)
    sent: list[Obj] = []

    async def receive() -> Obj:
        if pending:
            return pending.pop(0)
        await asyncio.Event().wait()  # a client that sends nothing more
        raise AssertionError("unreachable")

    async def send(message: Obj) -> None:
        sent.append(message)

    await transport.app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), body


async def test_a_detached_call_whose_client_goes_away_mid_body_stores_nothing(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn()
    path = f"/invoke/{fn['id']}"
    part = {"type": "http.request", "body": b"ab", "more_body": True}
    status, _ = await _asgi_post(client, path, [part, {"type": "http.disconnect"}])
    assert status == 499
    assert (await client.get(f"/v2/fns/{fn['id']}/calls")).json()["items"] == []
    call_id = await detached(client, fn, b"next")  # and the next call is taken
    assert (await ended(client, fn, call_id))["status"] == "success"


async def test_a_detached_call_whose_body_stalls_is_408_at_the_idle_timeout(
    tmp_path: Path,
) -> None:
    async with in_process_client(tmp_path, client_idle_timeout=0.3) as client:
        app = (await client.post("/v2/apps", json={"name": "stall"})).json()
        fn_body = {"name": "f", "app_id": app["id"], "image": "fake/echo"}
        fn = (await client.post("/v2/fns", json=fn_body)).json()
        part = {"type": "http.request", "body": b"ab", "more_body": True}
        status, body = await asyncio.wait_for(_asgi_post(client, f"/invoke/{fn['id']}", [part]), 10)
        assert status == 408 and b"HOTFN_CLIENT_IDLE_TIMEOUT" in body
        assert (await client.get(f"/v2/fns/{fn['id']}/calls")).json()["items"] == []


async def test_a_chunked_detached_body_over_the_limit_is_413(
    client: httpx.AsyncClient, make_fn: Callable[..., Awaitable[Obj]]
) -> None:
    fn = await make_fn()
    chunk = {"type": "http.request", "body": b"x" * 65536, "more_body": True}
    status, body = await _asgi_post(client, f"/invoke/{fn['id']}", [chunk] * 5)
    assert status == 413 and b"HOTFN_MAX_DETACHED_BODY" in body
    assert (await client.get(f"/v2/fns/{fn['id']}/calls")).json()["items"] == []

"""The whole server in-process on the real engine: /invoke, triggers, detached, calls
API, and a function written for Fn's own Python FDK."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from hotfn.config import Settings
from hotfn.server import build_app
from tests.agent import docker_images as images
from tests.agent.docker_images import TEST_LABEL, containers_with

pytestmark = pytest.mark.docker

Obj = dict[str, Any]
MakeFn = Callable[..., Awaitable[Obj]]


@pytest.fixture
async def client(tmp_path: Path, docker_label: str) -> AsyncIterator[httpx.AsyncClient]:
    from hotfn.drivers.docker import DockerDriver

    settings = Settings(
        data_dir=tmp_path,
        instance="t" + secrets.token_hex(3),
        network_mode="none",
        container_labels={TEST_LABEL: docker_label},
    )
    app = build_app(settings, driver=DockerDriver())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", timeout=60
        ) as c:
            yield c
    assert not containers_with(f"io.hotfn.instance={settings.instance}")


@pytest.fixture
def make_fn(client: httpx.AsyncClient) -> MakeFn:
    async def make(trigger: str | None = None, **fields: Any) -> Obj:
        app = (await client.post("/v2/apps", json={"name": "a" + secrets.token_hex(3)})).json()
        resp = await client.post("/v2/fns", json={"name": "f", "app_id": app["id"], **fields})
        assert resp.status_code == 200, resp.text
        fn: Obj = resp.json()
        fn["app_name"] = app["name"]
        if trigger:
            body = {"name": "t", "app_id": app["id"], "fn_id": fn["id"], "type": "http",
                    "source": trigger}  # fmt: skip
            assert (await client.post("/v2/triggers", json=body)).status_code == 200
        return fn

    return make


async def test_invoke_and_trigger_with_hotfn_fdk(
    client: httpx.AsyncClient, make_fn: MakeFn
) -> None:
    fn = await make_fn(image=images.pyhot(), trigger="/made")
    resp = await client.post(f"/invoke/{fn['id']}", content=b"hi")
    assert resp.status_code == 200 and resp.content == b"hi" and resp.headers["fn-call-id"]
    resp = await client.post(f"/t/{fn['app_name']}/made", content=b"http")
    assert resp.status_code == 201 and resp.content == b"made"
    assert resp.headers["x-made"] == "yes" and resp.headers["fn-call-id"]
    assert "fn-http-status" not in resp.headers
    resp = await client.post(f"/t/{fn['app_name']}/made", content=b"raise")
    assert resp.status_code == 502 and resp.json()["message"] == "function failed"


async def test_detached_202_then_recorded(client: httpx.AsyncClient, make_fn: MakeFn) -> None:
    fn = await make_fn(image=images.pyhot())
    resp = await client.post(
        f"/invoke/{fn['id']}", content=b"log:bg", headers={"Fn-Invoke-Type": "detached"}
    )
    assert resp.status_code == 202
    call_id = resp.headers["fn-call-id"]
    for _ in range(200):
        rec = (await client.get(f"/v2/fns/{fn['id']}/calls/{call_id}")).json()
        if rec["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.05)
    assert rec["status"] == "success" and rec["start_path"] == "image"
    await asyncio.sleep(0.5)
    log = (await client.get(f"/v2/fns/{fn['id']}/calls/{call_id}/log")).json()
    assert "bg" in log["log"]["log"]


async def test_fn_python_fdk_runs_unchanged(client: httpx.AsyncClient, make_fn: MakeFn) -> None:
    fn = await make_fn(image=images.fn_fdk(), trigger="/fn")
    resp = await client.post(f"/invoke/{fn['id']}", content=b"Ann")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"hello": "Ann"}
    assert resp.headers["fn-fdk-version"].startswith("fdk-python/")
    hosts = {(await client.post(f"/invoke/{fn['id']}", content=b"whoami")).text for _ in range(5)}
    assert len(hosts) == 1  # hot: one container
    resp = await client.put(f"/t/{fn['app_name']}/fn", content=b"http")
    assert resp.status_code == 201 and resp.text == "created" and resp.headers["x-fn"] == "yes"


async def test_default_format_through_invoke(client: httpx.AsyncClient, make_fn: MakeFn) -> None:
    fn = await make_fn(image=images.node_default(), format="default")
    resp = await client.post(f"/invoke/{fn['id']}", content=b"Bob")
    assert resp.status_code == 200 and resp.content == b"Hello Bob from Node!\n"

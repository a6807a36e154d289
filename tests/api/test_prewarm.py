"""Prewarming and provisioning through the API, on the real engine: ``POST
/v2/fns/{id}/prewarm`` answers once a container is ready and the first call then
finds it; a provisioned fn gets its containers back when the server restarts."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.docker_support import ROOT, build_image, docker, ensure_images, new_session_label
from tests.server_support import ServerProcess

pytestmark = pytest.mark.docker
HELLO = ROOT / "examples" / "hello"


@pytest.fixture(scope="module")
def fdk_image() -> Iterator[str]:
    ensure_images()
    tag = f"hotfn-test/prewarm-{new_session_label()}:1"
    files = {"func.py": HELLO / "func.py"}
    yield build_image(tag, (HELLO / "Dockerfile.fdk").read_text(), files)
    docker("rmi", "-f", tag, check=False)


def _fn(api: httpx.Client, image: str, **annotations: Any) -> dict[str, Any]:
    app = api.post("/v2/apps", json={"name": f"pw-{time.monotonic_ns()}"}).json()
    body = {"name": "hello", "app_id": app["id"], "image": image, "annotations": annotations}
    fn: dict[str, Any] = api.post("/v2/fns", json=body).json()
    return fn


def _ready(api: httpx.Client, fn_id: str) -> int:
    text = api.get("/metrics").text
    found = re.findall(rf'hotfn_hot_containers\{{fn="{fn_id}",state="idle"\}} (\d+)', text)
    return int(float(found[0])) if found else 0


def test_prewarm_then_first_call_is_hot(
    make_server: Callable[..., ServerProcess], fdk_image: str
) -> None:
    server = make_server(None, HOTFN_GENERIC_POOL_SIZE="0")
    with httpx.Client(base_url=server.url, timeout=60) as api:
        fn = _fn(api, fdk_image)
        assert _ready(api, fn["id"]) == 0
        warmed = api.post(f"/v2/fns/{fn['id']}/prewarm")
        assert warmed.json() == {"requested": 1, "ready": 1}, warmed.text
        assert _ready(api, fn["id"]) == 1
        r = api.post(f"/invoke/{fn['id']}", content=b"Pat")
        assert r.text == "Hello Pat from Python!\n"
        calls = api.get(f"/v2/fns/{fn['id']}/calls").json()["items"]
        assert [c["start_path"] for c in calls] == ["prewarmed"]
        assert api.post("/v2/fns/01AAAAAAAAAAAAAAAAAAAAAAAA/prewarm").status_code == 404
        assert api.post(f"/v2/fns/{fn['id']}/prewarm", params={"count": 99}).status_code == 400


def test_provisioned_containers_return_after_restart(
    make_server: Callable[..., ServerProcess], fdk_image: str
) -> None:
    first = make_server(None, HOTFN_GENERIC_POOL_SIZE="0")
    with httpx.Client(base_url=first.url, timeout=60) as api:
        fn = _fn(api, fdk_image, **{"hotfn.io/provisioned": 1})
        _wait_ready(api, fn["id"])
    first.stop()
    again = make_server(None, data_dir=first.data_dir, HOTFN_GENERIC_POOL_SIZE="0")
    with httpx.Client(base_url=again.url, timeout=60) as api:
        _wait_ready(api, fn["id"])  # without any call: started at server start
        r = api.post(f"/invoke/{fn['id']}", content=b"Lee")
        assert r.text == "Hello Lee from Python!\n"
        calls = api.get(f"/v2/fns/{fn['id']}/calls").json()["items"]
        assert calls[0]["start_path"] == "provisioned"


def _wait_ready(api: httpx.Client, fn_id: str) -> None:
    # Waiting for an event, not timing it: the bound only stops a broken run.
    for _ in range(600):
        if _ready(api, fn_id) >= 1:
            return
        time.sleep(0.05)
    raise AssertionError(f"no provisioned container for {fn_id}:\n{api.get('/metrics').text}")

"""Pull on demand through a real server, the real engine and a real
``docker-registry`` on loopback: a missing image is pulled by the call that needs
it, concurrent first calls share one pull, a missing tag fails clearly and fast,
and credentials never show."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agent.docker_images import pyhot
from tests.docker_support import docker
from tests.registry_support import LocalRegistry, local_registry
from tests.server_support import ServerProcess
from tests.waiting import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

USER, PASSWORD = "puller", "s3cret-" + secrets.token_hex(4)


@pytest.fixture(scope="module")
def registry() -> Iterator[LocalRegistry]:
    with local_registry() as reg:
        yield reg


@pytest.fixture(scope="module")
def guarded() -> Iterator[LocalRegistry]:
    with local_registry(USER, PASSWORD) as reg:
        yield reg


@pytest.fixture(scope="module")
def image() -> str:
    return pyhot()


def fresh(name: str) -> str:
    return f"pull/{name}:{secrets.token_hex(3)}"


def make_fn(client: httpx.Client, image: str, **annotations: str) -> dict[str, Any]:
    app = client.post("/v2/apps", json={"name": "app" + secrets.token_hex(3)}).json()
    body = {"name": "f", "app_id": app["id"], "image": image, "annotations": annotations}
    fn = client.post("/v2/fns", json=body)
    assert fn.status_code == 200, fn.text
    out: dict[str, Any] = fn.json()
    return out


def pulls(client: httpx.Client, result: str) -> float:
    text = client.get("/metrics").text
    found = re.search(rf'^hotfn_image_pulls_total\{{result="{result}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def has_image(ref: str) -> bool:
    return bool(docker("images", "-q", ref).strip())


def call_record(client: httpx.Client, fn_id: str, call_id: str) -> dict[str, Any]:
    def done() -> bool:
        r = client.get(f"/v2/fns/{fn_id}/calls/{call_id}")
        return r.status_code == 200 and r.json().get("status") not in (None, "running")

    wait_until(done, within_s=20, what="the call's record")
    record: dict[str, Any] = client.get(f"/v2/fns/{fn_id}/calls/{call_id}").json()
    return record


def test_a_call_pulls_the_image_the_engine_lacks(
    make_server: Callable[..., ServerProcess], registry: LocalRegistry, image: str
) -> None:
    ref = registry.push(image, fresh("pyhot"))
    registry.forget(ref)
    server = make_server(None)
    with httpx.Client(base_url=server.url, timeout=120) as client:
        fn = make_fn(client, ref)
        # A created fn's missing image is pulled in the background; wait for it, then
        # take it away again so that the call itself has to pull.
        wait_until(lambda: pulls(client, "ok") >= 1, within_s=60, what="the prefetch")
        registry.forget(ref)
        assert not has_image(ref)
        before = pulls(client, "ok")
        resp = client.post(f"/invoke/{fn['id']}", content=b"pulled")
        assert resp.status_code == 200, resp.text
        assert has_image(ref)
        assert pulls(client, "ok") == before + 1
        record = call_record(client, fn["id"], resp.headers["fn-call-id"])
        assert record["start_path"] == "pulled" and record["start_ms"] > 0
        # Hot from then on: no second pull.
        assert client.post(f"/invoke/{fn['id']}", content=b"again").status_code == 200
        assert pulls(client, "ok") == before + 1
    server.stop()
    registry.forget(ref)


def test_concurrent_first_calls_share_one_pull_and_a_missing_tag_fails_clearly(
    make_server: Callable[..., ServerProcess], registry: LocalRegistry, image: str
) -> None:
    name = fresh("shared")
    ref = registry.ref(name)
    # No negative cache here: the call right after the push must pull again.
    server = make_server(None, HOTFN_PULL_RETRY_AFTER="0")
    with httpx.Client(base_url=server.url, timeout=120) as client:
        fn = make_fn(client, ref)
        missing = client.post(f"/invoke/{fn['id']}", content=b"x")
        assert missing.status_code == 502
        message = missing.json()["message"]
        assert ref in message and "manifest unknown" in message, message
        assert missing.headers["fn-call-id"]

        registry.push(image, name)
        registry.forget(ref)
        before = pulls(client, "ok")
        with ThreadPoolExecutor(20) as pool:
            answers = list(
                pool.map(lambda i: client.post(f"/invoke/{fn['id']}", content=b"%d" % i), range(20))
            )
        assert [r.status_code for r in answers] == [200] * 20, [r.text for r in answers]
        ids = {r.headers["fn-call-id"] for r in answers}

        def records() -> list[dict[str, Any]]:
            got = client.get(f"/v2/fns/{fn['id']}/calls", params={"per_page": 100}).json()
            return [c for c in got["items"] if c["id"] in ids and c["status"] == "success"]

        wait_until(lambda: len(records()) == 20, within_s=60, what="20 call records")
        # The containers those calls started waited for the one pull.
        paths = {c["start_path"] for c in records()}
        assert "pulled" in paths and paths <= {"pulled", "hot"}, paths
        assert pulls(client, "ok") == before + 1
    server.stop()
    registry.forget(ref)


def test_wrong_credentials_fail_clearly_and_no_secret_shows(
    make_server: Callable[..., ServerProcess],
    guarded: LocalRegistry,
    image: str,
    tmp_path: Path,
) -> None:
    name = fresh("guarded")
    ref = guarded.push(image, name)
    guarded.forget(ref)
    wrong = guarded.docker_config("not-the-password")
    # The right credentials as a named set, chosen per fn by annotation.
    auth_dir = tmp_path / "registry-auth"
    auth_dir.mkdir()
    (auth_dir / "team.json").write_text(guarded.docker_config().read_text())
    server = make_server(
        None, HOTFN_DOCKER_CONFIG=str(wrong), HOTFN_REGISTRY_AUTH_DIR=str(auth_dir),
        HOTFN_PULL_RETRY_AFTER="0",
    )  # fmt: skip
    with httpx.Client(base_url=server.url, timeout=120) as client:
        bad = make_fn(client, ref)
        resp = client.post(f"/invoke/{bad['id']}", content=b"x")
        assert resp.status_code == 502
        message = resp.json()["message"]
        assert guarded.host in message and "unauthorized" in message.lower(), message

        good = make_fn(client, ref, **{"hotfn.io/registry-auth": "team"})
        ok = client.post(f"/invoke/{good['id']}", content=b"x")
        assert ok.status_code == 200, ok.text

        answers = [
            client.get(f"/v2/fns/{fn['id']}").text + client.get(f"/v2/apps/{fn['app_id']}").text
            for fn in (bad, good)
        ]
        answers.append(client.get(f"/v2/fns/{bad['id']}/calls").text)
        answers.append(client.get("/metrics").text)
        # Only the credential set's name is stored.
        shown = client.get(f"/v2/fns/{good['id']}").json()
        assert shown["annotations"]["hotfn.io/registry-auth"] == "team"
    server.stop()
    guarded.forget(ref)
    seen = "\n".join([*answers, server.log_path.read_text(errors="replace")])
    for secret in (PASSWORD, "not-the-password"):
        assert secret not in seen
        assert base64.b64encode(f"{USER}:{secret}".encode()).decode() not in seen


def test_unused_pulled_images_are_removed_when_asked(
    make_server: Callable[..., ServerProcess], registry: LocalRegistry, image: str
) -> None:
    ref = registry.push(image, fresh("gc"))
    registry.forget(ref)
    server = make_server(None, HOTFN_IMAGE_GC_AFTER="2")
    with httpx.Client(base_url=server.url, timeout=120) as client:
        fn = make_fn(client, ref)
        assert client.post(f"/invoke/{fn['id']}", content=b"x").status_code == 200
        assert has_image(ref)
        assert client.delete(f"/v2/fns/{fn['id']}").status_code == 204
        wait_until(lambda: not has_image(ref), within_s=60, what="the unused image removed")
        # An image built on this machine is never removed: nothing could bring it back.
        assert has_image(image)
    server.stop()

"""API tokens: /v2 and /metrics need the bearer token; calls need it only where the
app asks; a server does not listen beyond loopback without one."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hotfn.config import Settings
from hotfn.errors import InvalidInput
from tests.server_support import ServerProcess

TOKEN = "s3cret-token"
ABSENT = "hotfn-test/absent:1"


@pytest.fixture(scope="module")
def guarded(make_server: Callable[..., ServerProcess]) -> ServerProcess:
    return make_server(None, HOTFN_TOKEN=TOKEN)


def test_v2_needs_the_token(guarded: ServerProcess) -> None:
    with httpx.Client(base_url=guarded.url) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            r = c.get("/v2/apps", headers=headers)
            assert r.status_code == 401
            assert "Authorization: Bearer" in r.json()["message"]
            assert r.headers["www-authenticate"].startswith("Bearer")
        assert c.post("/v2/apps", json={"name": "nope"}).status_code == 401
        assert c.get("/metrics").status_code == 401
        ok = {"Authorization": f"Bearer {TOKEN}"}
        assert c.get("/v2/apps", headers=ok).status_code == 200
        assert c.get("/metrics", headers=ok).status_code == 200
        for open_path in ("/", "/version", "/openapi.json"):
            assert c.get(open_path).status_code == 200


def test_calls_need_the_token_only_where_the_app_asks(guarded: ServerProcess) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=guarded.url, headers=auth, timeout=30) as admin:
        fn_ids = {}
        for name, annotations in (
            ("open-app", {}),
            ("closed-app", {"hotfn.io/invoke-auth": "token"}),
        ):
            app = admin.post("/v2/apps", json={"name": name, "annotations": annotations}).json()
            body = {"name": "f", "app_id": app["id"], "image": ABSENT}
            fn_ids[name] = admin.post("/v2/fns", json=body).json()["id"]
    with httpx.Client(base_url=guarded.url, timeout=30) as anon:
        closed = anon.post(f"/invoke/{fn_ids['closed-app']}", content=b"x")
        assert closed.status_code == 401
        assert closed.headers["fn-call-id"]
        # Past the check, the call goes on and fails on the absent image, not on auth.
        absent = anon.post(f"/invoke/{fn_ids['open-app']}", content=b"x")
        with_token = anon.post(f"/invoke/{fn_ids['closed-app']}", content=b"x", headers=auth)
        for resp in (absent, with_token):
            assert resp.status_code == 502, resp.text
            assert resp.json() == {"message": f"No such image: {ABSENT}"}  # the engine's words
            assert resp.headers["fn-call-id"]


def test_no_token_no_listening_beyond_loopback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hotfn.cli.main", "start", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOTFN_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "--token" in result.stderr and "Traceback" not in result.stderr
    for host in ("127.0.0.1", "::1", "localhost"):
        Settings(host=host).check_exposure()
    Settings(host="0.0.0.0", token="t").check_exposure()
    Settings(host="192.0.2.1", insecure=True).check_exposure()
    with pytest.raises(InvalidInput):
        Settings(host="0.0.0.0").check_exposure()

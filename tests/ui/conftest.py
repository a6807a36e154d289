"""Fixtures of the dashboard's browser tests: a headless Chromium, a real ``hotfn
start`` server on the real engine with a deployed hot Python fn, and a
token-protected server (no engine needed: it is never called).

Screenshots go to a temporary directory; with ``HOTFN_UI_SCREENSHOTS=docs`` they
replace the committed ones in ``docs/`` (``docs/ui.md``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.agent import docker_images as images
from tests.docker_support import ensure_images
from tests.server_support import ROOT, ServerProcess

if TYPE_CHECKING:
    from tests.ui.browser import Browser

TOKEN = "s3cret-ui-token"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # scripts/test installs both; a missing one is a broken set-up, never a skip.
    try:
        from tests.ui.browser import Browser, available
    except ImportError as exc:
        pytest.fail(f"{exc}: selenium is in the dev lock, run scripts/ensure-venv")
    if not available():
        pytest.fail("no /usr/bin/chromium and chromedriver: run scripts/ensure-chromium")
    b = Browser()
    yield b
    b.quit()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    target = os.environ.get("HOTFN_UI_SCREENSHOTS")
    return ROOT / target if target else tmp_path


@pytest.fixture(scope="module")
def ui_server(make_server: Callable[..., ServerProcess]) -> ServerProcess:
    ensure_images()
    return make_server(None)


@pytest.fixture(scope="module")
def deployed(ui_server: ServerProcess) -> dict[str, Any]:
    """App ``shop``: fn ``hello`` (hot Python FDK) with trigger ``/hello``, fn ``idle``."""
    image = images.pyhot()
    with httpx.Client(base_url=ui_server.url, timeout=60) as api:
        app = api.post("/v2/apps", json={"name": "shop"}).json()
        fns = {}
        for name in ("hello", "idle"):
            body = {"name": name, "app_id": app["id"], "image": image, "memory": 64,
                    "annotations": {"team": "web"}}  # fmt: skip
            resp = api.post("/v2/fns", json=body)
            assert resp.status_code == 200, resp.text
            fns[name] = resp.json()
        trig = {"name": "hello", "app_id": app["id"], "fn_id": fns["hello"]["id"],
                "type": "http", "source": "/hello"}  # fmt: skip
        assert api.post("/v2/triggers", json=trig).status_code == 200
    return {"app": app, "fn": fns["hello"], "idle": fns["idle"], "url": ui_server.url}


@pytest.fixture(scope="module")
def token_server(make_server: Callable[..., ServerProcess]) -> ServerProcess:
    server = make_server(None, HOTFN_TOKEN=TOKEN)
    with httpx.Client(base_url=server.url, timeout=30) as api:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert api.post("/v2/apps", json={"name": "secret-app"}, headers=auth).status_code == 200
    return server

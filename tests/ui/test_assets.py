"""The dashboard's files as served (in-process, fake driver; no browser): size, the
headers that confine the page, the open session probe, and the wheel carrying them."""

from __future__ import annotations

import gzip
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hotfn.ui import STATIC
from tests.server_support import ROOT, in_process_client

LIMIT_GZIP = 300 * 1024


def test_all_assets_are_under_300_kb_gzipped() -> None:
    files = [p for p in STATIC.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"index.html", "app.js", "app.css"}
    total = sum(len(gzip.compress(p.read_bytes(), 9)) for p in files)
    assert total < LIMIT_GZIP, f"{total} bytes gzipped"


def test_every_module_the_page_imports_exists() -> None:
    index = (STATIC / "index.html").read_text()
    wanted = set(re.findall(r'(?:src|href)="([\w.-]+\.(?:js|css))"', index))
    for js in STATIC.glob("*.js"):
        wanted |= set(re.findall(r'from "\./([\w.-]+\.js)"', js.read_text()))
    assert "app.js" in wanted and "charts.js" in wanted
    assert all((STATIC / name).is_file() for name in wanted), wanted


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_client(tmp_path, token="s3cret-tok") as c:
        yield c


async def test_ui_is_served_with_a_strict_policy_and_no_token(client: httpx.AsyncClient) -> None:
    redirect = await client.get("/ui")
    assert redirect.status_code == 307 and redirect.headers["location"] == "/ui/"
    page = await client.get("/ui/")
    assert page.status_code == 200 and "<title>hotfn dashboard</title>" in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    js = await client.get("/ui/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert (await client.get("/ui/nothing.js")).status_code == 404
    # The data stays behind the token: only the page's own files are open.
    assert (await client.get("/v2/stats")).status_code == 401
    session = (await client.get("/ui/session")).json()
    assert session["token_required"] is True and "s3cret" not in str(session)


async def test_session_without_token(tmp_path: Path) -> None:
    async with in_process_client(tmp_path) as c:
        assert (await c.get("/ui/session")).json()["token_required"] is False


@pytest.mark.slow
def test_the_wheel_carries_the_dashboard(tmp_path: Path) -> None:
    from hatchling.builders.wheel import WheelBuilder

    builder = WheelBuilder(str(ROOT))
    wheel = next(iter(builder.build(directory=str(tmp_path), versions=["standard"])))
    names = set(zipfile.ZipFile(wheel).namelist())
    for p in STATIC.iterdir():
        assert f"hotfn/ui/static/{p.name}" in names

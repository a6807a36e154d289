"""Cursor pagination: every object exactly once, in name order."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx

from tests.api.conftest import Obj, ok


def walk(api: httpx.Client, path: str, params: dict[str, Any]) -> list[Obj]:
    seen: list[Obj] = []
    cursor = None
    for _ in range(1000):
        page = ok(api.get(path, params={**params, **({"cursor": cursor} if cursor else {})}))
        assert len(page["items"]) <= params.get("per_page", 30)
        seen.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return seen
        assert len(page["items"]) == params.get("per_page", 30)
        assert "=" not in cursor
    raise AssertionError("pagination did not end")


def test_walk_over_250_fns(
    api: httpx.Client, make_app: Callable[..., Obj], uniq: Callable[[str], str]
) -> None:
    app = make_app()
    names = [f"fn-{i:03d}-{uniq('p')}" for i in range(250)]
    for name in names:
        ok(api.post("/v2/fns", json={"name": name, "app_id": app["id"], "image": "x"}))
    for per_page in (7, 30, 100):
        items = walk(api, "/v2/fns", {"app_id": app["id"], "per_page": per_page})
        assert [f["name"] for f in items] == sorted(names)
    # No app filter: names are unique only per app, the walk still sees each once.
    everything = walk(api, "/v2/fns", {"per_page": 100})
    ids = [f["id"] for f in everything]
    assert len(ids) == len(set(ids))
    assert {f["name"] for f in everything} >= set(names)


def test_walk_over_250_apps(api: httpx.Client, uniq: Callable[[str], str]) -> None:
    prefix = uniq("pg")
    created = {
        ok(api.post("/v2/apps", json={"name": f"{prefix}-{i:03d}"}))["id"] for i in range(250)
    }
    items = walk(api, "/v2/apps", {"per_page": 50})
    ids = [a["id"] for a in items]
    assert len(ids) == len(set(ids))
    assert created <= set(ids)
    names = [a["name"] for a in items]
    assert names == sorted(names)


def test_defaults_and_cap(api: httpx.Client, make_app: Callable[..., Obj]) -> None:
    app = make_app()
    for i in range(35):
        ok(api.post("/v2/fns", json={"name": f"f{i:02d}", "app_id": app["id"], "image": "x"}))
    first = ok(api.get("/v2/fns", params={"app_id": app["id"]}))
    assert len(first["items"]) == 30
    assert base64.urlsafe_b64decode(first["next_cursor"] + "==").decode() == "f29"
    capped = ok(api.get("/v2/fns", params={"app_id": app["id"], "per_page": 1000}))
    assert len(capped["items"]) == 35 and capped.get("next_cursor") is None


def test_triggers_walk(api: httpx.Client, make_fn: Callable[..., Obj]) -> None:
    fn = make_fn()
    for i in range(12):
        body = {
            "name": f"t{i:02d}",
            "app_id": fn["app_id"],
            "fn_id": fn["id"],
            "type": "http",
            "source": f"/s{i}",
        }
        ok(api.post("/v2/triggers", json=body))
    items = walk(api, "/v2/triggers", {"app_id": fn["app_id"], "per_page": 5})
    assert [t["name"] for t in items] == [f"t{i:02d}" for i in range(12)]

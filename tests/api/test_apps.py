"""/v2/apps against a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from tests.api.conftest import Obj, ok

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_create_returns_the_whole_app(api: httpx.Client, uniq: Callable[[str], str]) -> None:
    name = uniq("app")
    body = {"name": name, "config": {"A": "1"}, "annotations": {"team": {"x": 1}, "n": 3}}
    app = ok(api.post("/v2/apps", json={**body, "syslog_url": "tcp://l:1", "shape": "x86"}))
    assert app["name"] == name
    assert len(app["id"]) == 26
    assert app["config"] == {"A": "1"}
    assert app["annotations"] == {"team": {"x": 1}, "n": 3}
    assert app["syslog_url"] == "tcp://l:1" and app["shape"] == "x86"
    assert TS.match(app["created_at"]) and app["created_at"] == app["updated_at"]
    assert ok(api.get(f"/v2/apps/{app['id']}")) == app


def test_ids_sort_by_creation(make_app: Callable[..., Obj]) -> None:
    ids = [make_app()["id"] for _ in range(5)]
    assert ids == sorted(ids)


def test_duplicate_name_is_409(api: httpx.Client, make_app: Callable[..., Obj]) -> None:
    app = make_app()
    r = api.post("/v2/apps", json={"name": app["name"]})
    assert r.status_code == 409
    assert app["name"] in r.json()["message"]


def test_get_unknown_is_404(api: httpx.Client) -> None:
    for method in ("get", "delete"):
        r = api.request(method.upper(), "/v2/apps/01AAAAAAAAAAAAAAAAAAAAAAAA")
        assert r.status_code == 404
        assert r.json() == {"message": "App not found"}
    r = api.put("/v2/apps/01AAAAAAAAAAAAAAAAAAAAAAAA", json={"config": {"A": "1"}})
    assert r.status_code == 404


def test_put_merges_and_removes_empty_keys(api: httpx.Client, make_app: Callable[..., Obj]) -> None:
    app = make_app(config={"A": "1", "B": "2"}, annotations={"k": "v", "keep": 1})
    patch = {"config": {"A": "", "C": "3"}, "annotations": {"k": "", "new": [1, 2]}}
    updated = ok(api.put(f"/v2/apps/{app['id']}", json=patch))
    assert updated["config"] == {"B": "2", "C": "3"}
    assert updated["annotations"] == {"keep": 1, "new": [1, 2]}
    assert updated["created_at"] == app["created_at"]
    assert updated["updated_at"] >= app["updated_at"]
    assert ok(api.get(f"/v2/apps/{app['id']}")) == updated


def test_put_back_what_was_read(api: httpx.Client, make_app: Callable[..., Obj]) -> None:
    app = make_app(config={"A": "1"})
    assert ok(api.put(f"/v2/apps/{app['id']}", json=app))["config"] == {"A": "1"}


def test_name_is_immutable_and_id_must_be_the_paths(
    api: httpx.Client, make_app: Callable[..., Obj]
) -> None:
    app = make_app()
    r = api.put(f"/v2/apps/{app['id']}", json={"name": "other-name"})
    assert (r.status_code, r.json()) == (409, {"message": "Could not update - name is immutable"})
    # Fn (api/server/apps_update.go): an id that is not the path's is a 400, checked
    # before the app is looked up.
    for path_id in (app["id"], "01AAAAAAAAAAAAAAAAAAAAAAAA"):
        r = api.put(f"/v2/apps/{path_id}", json={"id": "01BBBBBBBBBBBBBBBBBBBBBBBB"})
        assert (r.status_code, r.json()) == (
            400,
            {"message": "App ID in path does not match ID in body"},
        )
    assert ok(api.get(f"/v2/apps/{app['id']}")) == app


def test_delete_cascades(
    api: httpx.Client,
    make_app: Callable[..., Obj],
    make_fn: Callable[..., Obj],
    make_trigger: Callable[..., Obj],
) -> None:
    app = make_app()
    fn = make_fn(app)
    trigger = make_trigger(fn)
    assert api.delete(f"/v2/apps/{app['id']}").status_code == 204
    assert api.get(f"/v2/apps/{app['id']}").status_code == 404
    assert api.get(f"/v2/fns/{fn['id']}").status_code == 404
    assert api.get(f"/v2/triggers/{trigger['id']}").status_code == 404
    assert ok(api.get("/v2/fns", params={"app_id": app["id"]}))["items"] == []


def test_list_filters_by_exact_name(api: httpx.Client, make_app: Callable[..., Obj]) -> None:
    app = make_app()
    make_app(name=app["name"] + "x")
    page = ok(api.get("/v2/apps", params={"name": app["name"]}))
    assert [a["id"] for a in page["items"]] == [app["id"]]
    assert page.get("next_cursor") is None


def test_create_with_id_is_400(api: httpx.Client, uniq: Callable[[str], str]) -> None:
    name = uniq("a")
    r = api.post("/v2/apps", json={"name": name, "id": "01AAAAAAAAAAAAAAAAAAAAAAAA"})
    assert (r.status_code, r.json()) == (400, {"message": "App ID cannot be supplied on create"})
    assert ok(api.get("/v2/apps", params={"name": name}))["items"] == []
    # Fn's Go models read an empty id as none.
    assert ok(api.post("/v2/apps", json={"name": name, "id": ""}))["name"] == name


def test_version_ping_metrics(api: httpx.Client) -> None:
    assert api.get("/").status_code == 200
    version: dict[str, Any] = ok(api.get("/version"))
    assert re.match(r"^\d+\.\d+\.\d+", version["version"])
    metrics = api.get("/metrics")
    assert metrics.status_code == 200
    assert "hotfn_api_requests_total" in metrics.text or "# HELP" in metrics.text

"""/v2/triggers against a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.api.conftest import Obj, ok


def test_create_and_endpoint(
    api: httpx.Client, make_fn: Callable[..., Obj], make_trigger: Callable[..., Obj]
) -> None:
    fn = make_fn()
    trigger = make_trigger(fn, source="/hello/world", annotations={"k": "v"})
    assert trigger["type"] == "http" and trigger["fn_id"] == fn["id"]
    app = ok(api.get(f"/v2/apps/{fn['app_id']}"))
    endpoint = trigger["annotations"]["fnproject.io/trigger/httpEndpoint"]
    assert endpoint.endswith(f"/t/{app['name']}/hello/world")
    assert endpoint.startswith("http://127.0.0.1:")
    assert trigger["annotations"]["k"] == "v"
    assert ok(api.get(f"/v2/triggers/{trigger['id']}")) == trigger


def test_source_must_start_with_slash(api: httpx.Client, make_fn: Callable[..., Obj]) -> None:
    fn = make_fn()
    body = {"name": "t", "app_id": fn["app_id"], "fn_id": fn["id"], "type": "http"}
    r = api.post("/v2/triggers", json={**body, "source": "nope"})
    assert r.status_code == 400
    assert "source" in r.json()["message"]
    assert api.post("/v2/triggers", json={**body, "source": "/x", "type": "ftp"}).status_code == 400


def test_unknown_parents_are_404(api: httpx.Client, make_fn: Callable[..., Obj]) -> None:
    fn = make_fn()
    base = {"name": "t", "type": "http", "source": "/x"}
    missing = "01AAAAAAAAAAAAAAAAAAAAAAAA"
    r = api.post("/v2/triggers", json={**base, "app_id": fn["app_id"], "fn_id": missing})
    assert r.status_code == 404
    r = api.post("/v2/triggers", json={**base, "app_id": missing, "fn_id": fn["id"]})
    assert r.status_code == 404


def test_duplicates_are_409(
    api: httpx.Client, make_fn: Callable[..., Obj], make_trigger: Callable[..., Obj]
) -> None:
    fn = make_fn()
    t = make_trigger(fn)
    base = {"app_id": fn["app_id"], "fn_id": fn["id"], "type": "http"}
    assert (
        api.post("/v2/triggers", json={**base, "name": t["name"], "source": "/o"}).status_code
        == 409
    )
    assert (
        api.post("/v2/triggers", json={**base, "name": "n2", "source": t["source"]}).status_code
        == 409
    )


def test_list_needs_app_id_and_filters(
    api: httpx.Client, make_fn: Callable[..., Obj], make_trigger: Callable[..., Obj]
) -> None:
    assert api.get("/v2/triggers").status_code == 400
    fn = make_fn()
    t1 = make_trigger(fn, name="a-trig")
    t2 = make_trigger(fn, name="b-trig")
    items = ok(api.get("/v2/triggers", params={"app_id": fn["app_id"]}))["items"]
    assert [t["id"] for t in items] == [t1["id"], t2["id"]]
    by_fn = ok(api.get("/v2/triggers", params={"app_id": fn["app_id"], "fn_id": fn["id"]}))
    assert len(by_fn["items"]) == 2
    by_name = ok(api.get("/v2/triggers", params={"app_id": fn["app_id"], "name": "b-trig"}))
    assert [t["id"] for t in by_name["items"]] == [t2["id"]]


def test_update_source_and_immutables(api: httpx.Client, make_trigger: Callable[..., Obj]) -> None:
    t = make_trigger()
    updated = ok(api.put(f"/v2/triggers/{t['id']}", json={"source": "/moved"}))
    assert updated["source"] == "/moved"
    assert updated["annotations"]["fnproject.io/trigger/httpEndpoint"].endswith("/moved")
    for patch in ({"name": "x"}, {"type": "http", "fn_id": "01AAAAAAAAAAAAAAAAAAAAAAAA"}):
        assert api.put(f"/v2/triggers/{t['id']}", json=patch).status_code == 409
    assert api.put(f"/v2/triggers/{t['id']}", json={"source": "bad"}).status_code == 400


def test_delete(api: httpx.Client, make_trigger: Callable[..., Obj]) -> None:
    t = make_trigger()
    assert api.delete(f"/v2/triggers/{t['id']}").status_code == 204
    assert api.get(f"/v2/triggers/{t['id']}").status_code == 404
    assert api.delete(f"/v2/triggers/{t['id']}").status_code == 404

"""/v2/fns against a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.api.conftest import Obj, ok
from tests.server_support import ServerProcess


def test_create_applies_defaults_and_endpoint(
    api_server: ServerProcess, api: httpx.Client, make_fn: Callable[..., Obj]
) -> None:
    fn = make_fn()
    assert (fn["memory"], fn["timeout"], fn["idle_timeout"]) == (128, 30, 30)
    assert fn["format"] == "http-stream"
    assert fn["config"] == {}
    endpoint = fn["annotations"]["fnproject.io/fn/invokeEndpoint"]
    assert endpoint == f"{api_server.url}/invoke/{fn['id']}"
    assert ok(api.get(f"/v2/fns/{fn['id']}")) == fn


def test_create_with_every_field(
    api: httpx.Client, make_app: Callable[..., Obj], uniq: Callable[[str], str]
) -> None:
    app = make_app()
    body = {
        "name": uniq("fn"),
        "app_id": app["id"],
        "image": "example/img:0.0.2",
        "memory": 256,
        "timeout": 60,
        "idle_timeout": 120,
        "format": "default",
        "config": {"GREETING": "hi"},
        "annotations": {"a": {"b": 1}},
    }
    fn = ok(api.post("/v2/fns", json=body))
    for key, value in body.items():
        if key != "annotations":
            assert fn[key] == value
    assert fn["annotations"]["a"] == {"b": 1}


def test_unknown_app_is_404(api: httpx.Client, uniq: Callable[[str], str]) -> None:
    r = api.post(
        "/v2/fns", json={"name": uniq("f"), "app_id": "01AAAAAAAAAAAAAAAAAAAAAAAA", "image": "x"}
    )
    assert r.status_code == 404
    assert r.json() == {"message": "App not found"}


def test_duplicate_name_in_app_is_409_but_fine_elsewhere(
    api: httpx.Client, make_app: Callable[..., Obj], make_fn: Callable[..., Obj]
) -> None:
    fn = make_fn()
    r = api.post("/v2/fns", json={"name": fn["name"], "app_id": fn["app_id"], "image": "x"})
    assert r.status_code == 409
    other = make_app()
    ok(api.post("/v2/fns", json={"name": fn["name"], "app_id": other["id"], "image": "x"}))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("memory", 0),
        ("memory", 8193),
        ("timeout", 0),
        ("timeout", 301),
        ("idle_timeout", 3601),
        ("format", "json"),
        ("name", "has space"),
        ("name", "slash/"),
        ("name", "x" * 256),
        ("image", ""),
        ("image", "a b"),
        ("image", "Upper/case:1"),
        ("image", "trailing:"),
    ],
)
def test_out_of_range_is_400(
    api: httpx.Client, make_app: Callable[..., Obj], field: str, value: object
) -> None:
    app = make_app()
    body = {"name": "okname", "app_id": app["id"], "image": "x", field: value}
    r = api.post("/v2/fns", json=body)
    assert r.status_code == 400, r.text
    assert field in r.json()["message"] or "name" in r.json()["message"]


def test_missing_required_fields_are_400(api: httpx.Client, make_app: Callable[..., Obj]) -> None:
    app = make_app()
    for body in ({"app_id": app["id"], "image": "x"}, {"name": "n", "image": "x"}):
        r = api.post("/v2/fns", json=body)
        assert r.status_code == 400
        assert "required" in r.json()["message"]


def test_put_merges(api: httpx.Client, make_fn: Callable[..., Obj]) -> None:
    fn = make_fn(config={"A": "1", "B": "2"}, annotations={"x": 1})
    patch = {
        "image": "new:2",
        "memory": 512,
        "config": {"A": "", "C": "3"},
        "annotations": {"x": ""},
    }
    updated = ok(api.put(f"/v2/fns/{fn['id']}", json=patch))
    assert updated["image"] == "new:2" and updated["memory"] == 512
    assert updated["timeout"] == fn["timeout"]
    assert updated["config"] == {"B": "2", "C": "3"}
    assert "x" not in updated["annotations"]
    assert "fnproject.io/fn/invokeEndpoint" in updated["annotations"]


def test_put_back_does_not_store_endpoint(api: httpx.Client, make_fn: Callable[..., Obj]) -> None:
    fn = make_fn()
    back = ok(api.put(f"/v2/fns/{fn['id']}", json=fn))
    assert back["annotations"] == fn["annotations"]


def test_immutable_fields_are_409(
    api: httpx.Client, make_fn: Callable[..., Obj], make_app: Callable[..., Obj]
) -> None:
    fn = make_fn()
    for patch in ({"name": "renamed"}, {"app_id": make_app()["id"]}):
        assert api.put(f"/v2/fns/{fn['id']}", json=patch).status_code == 409


def test_out_of_range_update_is_400_and_keeps_the_fn(
    api: httpx.Client, make_fn: Callable[..., Obj]
) -> None:
    fn = make_fn()
    assert api.put(f"/v2/fns/{fn['id']}", json={"memory": 100000}).status_code == 400
    assert ok(api.get(f"/v2/fns/{fn['id']}")) == fn


def test_delete_cascades_to_triggers(
    api: httpx.Client, make_fn: Callable[..., Obj], make_trigger: Callable[..., Obj]
) -> None:
    fn = make_fn()
    trigger = make_trigger(fn)
    assert api.delete(f"/v2/fns/{fn['id']}").status_code == 204
    assert api.get(f"/v2/triggers/{trigger['id']}").status_code == 404
    assert api.delete(f"/v2/fns/{fn['id']}").status_code == 404


def test_list_filters(
    api: httpx.Client, make_app: Callable[..., Obj], make_fn: Callable[..., Obj]
) -> None:
    app = make_app()
    a, b = make_fn(app, name="alpha"), make_fn(app, name="beta")
    make_fn(name="alpha")  # same name, other app
    items = ok(api.get("/v2/fns", params={"app_id": app["id"]}))["items"]
    assert [f["id"] for f in items] == [a["id"], b["id"]]
    one = ok(api.get("/v2/fns", params={"app_id": app["id"], "name": "beta"}))["items"]
    assert [f["id"] for f in one] == [b["id"]]

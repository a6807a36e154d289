"""Bad input gets a 400 (or 404/405) with a message, never a 500 or a traceback, and
changes nothing that was stored."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.api.conftest import Obj, ok

BODIES: list[bytes] = [
    b"{not json",
    b"",
    b"[]",
    b'"a string"',
    b"null",
    b"\xff\xfe\x00garbage",
    b'{"name": "\xff\xfe"}',
    b'{"name": 12}',
    b'{"name": null}',
    b'{"name": ["a"]}',
    b'{"name": "ok", "config": {"A": 1}}',
    b'{"name": "ok", "config": "A=1"}',
    b'{"name": "ok", "annotations": []}',
    b'{"name": "ok", "unknown_field": 1}',
    b'{"name": "' + b"n" * 100_000 + b'"}',
    b'{"name": "a\\u0000b"}',
    b'{"name": "../etc"}',
    b'{"name": "ok", "config": {"BAD KEY": "v"}}',
    b'{"name": "ok", "config": {"1ABC": "v"}}',
    b'{"name": "ok", "config": {"A": "nul\\u0000"}}',
    b'{"name": "ok", "annotations": {"bad key": 1}}',
    b'{"name": "ok", "annotations": {"k": "' + b"v" * 600 + b'"}}',
    b'{"name": "ok", "syslog_url": 5}',
    b'{"name": true}',
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_bad_app_bodies(api: httpx.Client, body: bytes) -> None:
    for method, url in (("POST", "/v2/apps"), ("PUT", "/v2/apps/01AAAAAAAAAAAAAAAAAAAAAAAA")):
        r = api.request(method, url, content=body, headers={"content-type": "application/json"})
        assert r.status_code in (400, 404), (method, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")
        message = r.json()["message"]
        assert message and "Traceback" not in message


def test_bad_fn_bodies_leave_fn_unchanged(api: httpx.Client, make_fn: Callable[..., Obj]) -> None:
    fn = make_fn(config={"K": "v"})
    bad = [
        {"memory": "128"},
        {"memory": 1.5},
        {"memory": True},
        {"timeout": -1},
        {"config": {"K": None, "X": 1}},
        {"format": "cloudevent"},
        {"image": 5},
        {"bogus": 1},
    ]
    for patch in bad:
        r = api.put(f"/v2/fns/{fn['id']}", json=patch)
        assert r.status_code == 400, (patch, r.text)
    raw = api.put(f"/v2/fns/{fn['id']}", content=b"\x80\x81", headers={"content-type": "x/y"})
    assert raw.status_code == 400
    assert ok(api.get(f"/v2/fns/{fn['id']}")) == fn


def test_form_encoded_json_is_accepted_like_fn(
    api: httpx.Client, uniq: Callable[[str], str]
) -> None:
    # `curl -d '{...}'` sends application/x-www-form-urlencoded; Fn reads JSON anyway.
    name = uniq("curl")
    r = api.post(
        "/v2/apps",
        content=b'{"name": "%s"}' % name.encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert ok(r)["name"] == name


def test_bad_query_parameters(api: httpx.Client) -> None:
    for params in ({"per_page": "abc"}, {"per_page": "0"}, {"per_page": "-5"}, {"cursor": "%%%"}):
        r = api.get("/v2/apps", params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["message"]


def test_unknown_routes_and_methods(api: httpx.Client) -> None:
    r = api.get("/v2/nothing")
    assert r.status_code == 404 and "message" in r.json()
    for method, path, allow in (
        ("PATCH", "/v2/apps", "GET, POST"),
        ("POST", "/v2/apps/01AAAAAAAAAAAAAAAAAAAAAAAA", "DELETE, GET, PUT"),
        ("DELETE", "/v2/fns", "GET, POST"),
        ("GET", "/invoke/01AAAAAAAAAAAAAAAAAAAAAAAA", "POST"),
    ):
        r = api.request(method, path)
        assert r.status_code == 405, (method, path)
        assert r.headers["allow"] == allow, (method, path)
        assert r.json()["message"], (method, path)


def test_huge_body_is_rejected_cleanly(api: httpx.Client) -> None:
    r = api.post("/v2/apps", content=b'{"name": "' + b"x" * 3_000_000 + b'"}')
    assert r.status_code in (400, 413)
    assert r.json()["message"]


def test_body_limit_is_413_declared_or_chunked(api: httpx.Client) -> None:
    big = b'{"name": "' + b"x" * 1_100_000 + b'"}'
    r = api.post("/v2/apps", content=big)
    assert r.status_code == 413
    assert "limit" in r.json()["message"]

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 100_000

    r = api.post("/v2/apps", content=chunks())
    assert r.status_code == 413, r.text
    assert "limit" in r.json()["message"]


def test_forged_cursors_are_positions(
    api: httpx.Client, make_app: Callable[..., Obj], uniq: Callable[[str], str]
) -> None:
    # NULs (which PostgreSQL text cannot hold) and bytes that are not UTF-8 in a cursor:
    # still a position. By name, 'a\x00b\x00\xff' is "ab\ufffd" (NULs dropped,
    # the bad byte replaced): after "aa…", before "b…" in any collation. Where names
    # are not unique (fns of every app) it is name "a" then id "b\ufffd", after every
    # fn called "a" (ids start with a digit) and before any other name.
    forged = base64.urlsafe_b64encode(b"a\x00b\x00\xff").decode().rstrip("=")
    app = make_app()
    names = ["a", "aa", "b", "c"]
    fns = [make_fn_named(api, app, n) for n in names]
    trigger_ids = []
    for fn in fns:
        body = {"name": fn["name"], "app_id": app["id"], "fn_id": fn["id"], "type": "http",
                "source": f"/{fn['name']}"}  # fmt: skip
        trigger_ids.append(ok(api.post("/v2/triggers", json=body))["id"])
    after = [fns[2]["id"], fns[3]["id"]]  # "b" and "c"

    def page(path: str, **params: str) -> list[str]:
        r = api.get(path, params={**params, "cursor": forged})
        return [item["id"] for item in ok(r)["items"]]

    assert page("/v2/fns", app_id=app["id"]) == after
    assert page("/v2/triggers", app_id=app["id"]) == trigger_ids[2:]
    # Global lists, narrowed to one name each so the page is known.
    before_app, after_app = make_app(name=uniq("aa")), make_app(name=uniq("b"))
    assert page("/v2/apps", name=before_app["name"]) == []
    assert page("/v2/apps", name=after_app["name"]) == [after_app["id"]]
    assert page("/v2/fns", name="a") == []
    every_b = [f["id"] for f in ok(api.get("/v2/fns", params={"name": "b"}))["items"]]
    assert fns[2]["id"] in every_b
    assert page("/v2/fns", name="b") == every_b


def make_fn_named(api: httpx.Client, app: Obj, name: str) -> Obj:
    return ok(api.post("/v2/fns", json={"name": name, "app_id": app["id"], "image": "x:1"}))


def test_nul_in_url_is_400(api: httpx.Client) -> None:
    for url in ("/v2/apps?name=a%00b", "/v2/apps/a%00b", "/v2/fns/x%00", "/t/app%00/x"):
        r = api.get(url)
        assert r.status_code in (400, 404), (url, r.text)
        assert r.json()["message"]


@pytest.mark.parametrize("value", ["../etc/passwd", "a/b", 5, None, "-x", "x" * 65])
def test_registry_auth_annotation_must_name_a_file_safely(
    api: httpx.Client, make_fn: Callable[..., Obj], value: object
) -> None:
    fn = make_fn()
    r = api.put(f"/v2/fns/{fn['id']}", json={"annotations": {"hotfn.io/registry-auth": value}})
    assert r.status_code == 400, r.text
    assert ok(api.get(f"/v2/fns/{fn['id']}")) == fn
    assert "hotfn.io/registry-auth must name a credential set" in r.json()["message"]


def test_registry_auth_annotation_stores_only_the_name(
    api: httpx.Client, make_app: Callable[..., Obj]
) -> None:
    app = make_app(annotations={"hotfn.io/registry-auth": "team-a"})
    assert app["annotations"]["hotfn.io/registry-auth"] == "team-a"
    cleared = ok(
        api.put(f"/v2/apps/{app['id']}", json={"annotations": {"hotfn.io/registry-auth": ""}})
    )
    assert "hotfn.io/registry-auth" not in cleared["annotations"]

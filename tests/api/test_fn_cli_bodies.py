"""The request bodies Fn's CLI (0.6.63) sends, byte for byte in shape, on SQLite and
PostgreSQL: the create / inspect / config set / config unset / update / delete walk of
fnproject/cli's own API tests (test/cli_crud_test.go, cli_misc_test.go) for apps, fns
and triggers.

The CLI builds its bodies from Fn's go-openapi models: a create carries zero
timestamps, an update the whole object it read back (id, name, app_id, timestamps,
the endpoint annotations the server added), with Go's ``omitempty`` leaving out empty
fields. ``as_cli_sends`` turns what a GET returned into that shape.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hotfn.store.db import Database
from tests.api.conftest import Obj, ok
from tests.server_support import ServerProcess

ZERO = "0001-01-01T00:00:00.000Z"  # Go's zero time, as the CLI's models print it
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
INVOKE = "fnproject.io/fn/invokeEndpoint"
HTTP = "fnproject.io/trigger/httpEndpoint"
MISSING = "01AAAAAAAAAAAAAAAAAAAAAAAA"


class _AnyTimestamp:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(TS.match(other))


ANY_TS: Any = _AnyTimestamp()


def as_cli_sends(obj: Obj, **changes: Any) -> Obj:
    """``obj`` as the CLI PUTs it back: every field it read, empty ones left out
    (``omitempty``), with ``changes`` applied; keys in sorted order, as Go writes them."""
    body = {k: v for k, v in {**obj, **changes}.items() if v not in (None, "", {}, [])}
    return dict(sorted(body.items()))


def put(api: httpx.Client, path: str, body: Obj) -> httpx.Response:
    return api.put(path, content=json.dumps(body), headers={"Content-Type": "application/json"})


def post(api: httpx.Client, path: str, body: Obj) -> httpx.Response:
    return api.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})


def assert_fresh_timestamps(obj: Obj) -> None:
    assert TS.match(obj["created_at"]) and obj["created_at"] != ZERO
    assert TS.match(obj["updated_at"]) and obj["updated_at"] != ZERO


def test_app_walk(api: httpx.Client, uniq: Callable[[str], str]) -> None:
    name = uniq("probeapp")
    create = {"created_at": ZERO, "name": name, "updated_at": ZERO}  # fn create app
    app = ok(post(api, "/v2/apps", create))
    assert (app["name"], app["config"], app["annotations"]) == (name, {}, {})
    assert_fresh_timestamps(app)
    again = post(api, "/v2/apps", create)  # the CLI's test: a second create fails
    assert (again.status_code, again.json()) == (409, {"message": f"App {name!r} already exists"})

    # fn inspect app: the CLI finds it with ?name= and takes the first item.
    assert ok(api.get("/v2/apps", params={"name": name}))["items"] == [app]

    # fn config app NAME X y: the app as read, config replaced by the one key.
    body = {"config": {"X": "y"}, "created_at": app["created_at"], "id": app["id"],
            "name": name, "updated_at": app["updated_at"]}  # fmt: skip
    configured = ok(put(api, f"/v2/apps/{app['id']}", body))
    assert configured["config"] == {"X": "y"}
    assert configured["created_at"] == app["created_at"]
    body = as_cli_sends(configured, config={"X": "y", "Z": "w"})
    assert ok(put(api, f"/v2/apps/{app['id']}", body))["config"] == {"X": "y", "Z": "w"}

    # fn unset config app NAME X: the key set to "" goes, the others stay.
    current = ok(api.get(f"/v2/apps/{app['id']}"))
    unset = ok(put(api, f"/v2/apps/{app['id']}", as_cli_sends(current, config={"X": ""})))
    assert unset["config"] == {"Z": "w"}
    assert ok(api.get("/v2/apps", params={"name": name}))["items"][0]["config"] == {"Z": "w"}

    # fn update app NAME --annotation k=1 --syslog-url ...: the whole app back.
    body = as_cli_sends(unset, annotations={"k": 1}, syslog_url="tcp://logs:514")
    updated = ok(put(api, f"/v2/apps/{app['id']}", body))
    assert (updated["annotations"], updated["syslog_url"]) == ({"k": 1}, "tcp://logs:514")
    assert (updated["id"], updated["name"], updated["created_at"]) == (
        app["id"], name, app["created_at"],
    )  # fmt: skip
    # Putting back exactly what was read changes nothing the client can set.
    same = ok(put(api, f"/v2/apps/{app['id']}", as_cli_sends(updated)))
    assert {k: v for k, v in same.items() if k != "updated_at"} == {
        k: v for k, v in updated.items() if k != "updated_at"
    }

    assert api.delete(f"/v2/apps/{app['id']}").status_code == 204  # fn delete app
    assert ok(api.get("/v2/apps", params={"name": name}))["items"] == []


def test_fn_walk(
    api_server: ServerProcess, api: httpx.Client, make_app: Callable[..., Obj]
) -> None:
    app = make_app()
    # The body of `fn create function APP f1 foo/img:0.0.1 --memory 256 --config A=b`:
    create = {"app_id": app["id"], "config": {"A": "b"}, "created_at": ZERO,
              "image": "foo/img:0.0.1", "memory": 256, "name": "f1",
              "updated_at": ZERO}  # fmt: skip
    fn = ok(post(api, "/v2/fns", create))
    assert (fn["name"], fn["image"], fn["memory"], fn["config"]) == (
        "f1", "foo/img:0.0.1", 256, {"A": "b"},
    )  # fmt: skip
    assert fn["annotations"] == {INVOKE: f"{api_server.url}/invoke/{fn['id']}"}
    assert_fresh_timestamps(fn)
    again = post(api, "/v2/fns", create)
    assert (again.status_code, again.json()) == (
        409, {"message": "Fn 'f1' already exists in this app"},
    )  # fmt: skip

    found = ok(api.get("/v2/fns", params={"app_id": app["id"], "name": "f1"}))["items"]
    assert found == [fn]  # fn inspect function APP f1

    # fn update function APP f1 bar/duffbeer:0.1.2: the whole fn, endpoint included.
    body = as_cli_sends(fn, image="bar/duffbeer:0.1.2")
    assert body["annotations"] == {INVOKE: fn["annotations"][INVOKE]}
    updated = ok(put(api, f"/v2/fns/{fn['id']}", body))
    assert (updated["image"], updated["memory"], updated["config"]) == (
        "bar/duffbeer:0.1.2", 256, {"A": "b"},
    )  # fmt: skip
    assert updated["annotations"] == fn["annotations"]
    assert updated["created_at"] == fn["created_at"]

    # fn config function APP f1 confA valB: config replaced by the one key (merged).
    body = as_cli_sends(updated, config={"confA": "valB"})
    configured = ok(put(api, f"/v2/fns/{fn['id']}", body))
    assert configured["config"] == {"A": "b", "confA": "valB"}

    # fn unset config function APP f1 confA: the whole config, that key set to "".
    body = as_cli_sends(configured, config={**configured["config"], "confA": ""})
    unset = ok(put(api, f"/v2/fns/{fn['id']}", body))
    assert unset["config"] == {"A": "b"}
    assert ok(api.get(f"/v2/fns/{fn['id']}"))["config"] == {"A": "b"}

    # fn update function APP f1 --timeout 50 --annotation a=1 (with the endpoint).
    annotations = {**unset["annotations"], "a": 1}
    body = as_cli_sends(unset, timeout=50, annotations=annotations)
    tuned = ok(put(api, f"/v2/fns/{fn['id']}", body))
    assert (tuned["timeout"], tuned["annotations"]) == (50, {**fn["annotations"], "a": 1})

    assert api.delete(f"/v2/fns/{fn['id']}").status_code == 204  # fn delete function
    assert ok(api.get("/v2/fns", params={"app_id": app["id"], "name": "f1"}))["items"] == []


def test_trigger_walk(
    api_server: ServerProcess, api: httpx.Client, make_fn: Callable[..., Obj]
) -> None:
    fn = make_fn()
    app = ok(api.get(f"/v2/apps/{fn['app_id']}"))
    create = {"app_id": fn["app_id"], "created_at": ZERO, "fn_id": fn["id"],
              "name": "mytrigger", "source": "/mytrigger", "type": "http",
              "updated_at": ZERO}  # fmt: skip
    trigger = ok(post(api, "/v2/triggers", create))
    endpoint = f"{api_server.url}/t/{app['name']}/mytrigger"
    assert trigger["annotations"] == {HTTP: endpoint}
    assert [trigger[k] for k in ("name", "source", "type")] == ["mytrigger", "/mytrigger", "http"]
    assert_fresh_timestamps(trigger)
    assert post(api, "/v2/triggers", create).status_code == 409

    params = {"app_id": fn["app_id"], "fn_id": fn["id"], "name": "mytrigger"}
    assert ok(api.get("/v2/triggers", params=params))["items"] == [trigger]  # inspect

    # fn update trigger APP FN mytrigger --annotation 'val1=["val2"]': the CLI
    # replaces the annotations it read with the flag's, the rest comes back whole.
    body = as_cli_sends(trigger, annotations={"val1": ["val2"]})
    updated = ok(put(api, f"/v2/triggers/{trigger['id']}", body))
    assert updated["annotations"] == {"val1": ["val2"], HTTP: endpoint}

    # Set and unset an annotation through PUT, sending the endpoint back each time.
    body = as_cli_sends(updated, annotations={**updated["annotations"], "k": "v"})
    with_k = ok(put(api, f"/v2/triggers/{trigger['id']}", body))
    assert with_k["annotations"] == {"val1": ["val2"], "k": "v", HTTP: endpoint}
    body = as_cli_sends(with_k, annotations={**with_k["annotations"], "k": ""})
    unset = ok(put(api, f"/v2/triggers/{trigger['id']}", body))
    assert unset["annotations"] == {"val1": ["val2"], HTTP: endpoint}

    moved = ok(put(api, f"/v2/triggers/{trigger['id']}", as_cli_sends(unset, source="/moved")))
    assert moved["annotations"][HTTP] == f"{api_server.url}/t/{app['name']}/moved"

    assert api.delete(f"/v2/triggers/{trigger['id']}").status_code == 204
    assert ok(api.get("/v2/triggers", params=params))["items"] == []


def stored_annotations(db_url: str, rows: list[tuple[str, str]]) -> dict[str, Obj]:
    """The annotations column of each (table, id), read from the server's database."""

    async def read() -> dict[str, Obj]:
        db = Database(db_url)
        try:
            async with db.engine.connect() as conn:
                found = {}
                for table, obj_id in rows:
                    query = sa.text(f"SELECT annotations FROM {table} WHERE id = :id")
                    text = (await conn.execute(query, {"id": obj_id})).scalar_one()
                    found[obj_id] = json.loads(text)
                return found
        finally:
            await db.engine.dispose()

    return asyncio.run(read())


def test_endpoint_annotations_are_neither_stored_nor_counted(
    api_server: ServerProcess, api: httpx.Client, make_trigger: Callable[..., Obj]
) -> None:
    trigger = make_trigger()
    fn = ok(api.get(f"/v2/fns/{trigger['fn_id']}"))
    # 100 annotations is the limit; the server's own key does not count against it.
    hundred = {f"x.io/k{i}": i for i in range(100)}
    fn_body = as_cli_sends(fn, annotations={**fn["annotations"], **hundred})
    fn_back = ok(put(api, f"/v2/fns/{fn['id']}", fn_body))
    assert fn_back["annotations"] == {**hundred, INVOKE: fn["annotations"][INVOKE]}
    # A stale endpoint sent back (another host, an old id) is not what the server shows.
    stale = {HTTP: "http://elsewhere:1/t/old/path", INVOKE: "http://elsewhere:1/invoke/x"}
    body = as_cli_sends(trigger, annotations=stale)
    assert ok(put(api, f"/v2/triggers/{trigger['id']}", body)) == {
        **trigger, "updated_at": ANY_TS,
    }  # fmt: skip
    body = {"app_id": fn["app_id"], "image": "x:1", "name": "fresh", "annotations": stale}
    created = ok(post(api, "/v2/fns", body))
    assert created["annotations"] == {INVOKE: f"{api_server.url}/invoke/{created['id']}"}

    assert api_server.db_url
    rows = [("fns", fn["id"]), ("triggers", trigger["id"]), ("fns", created["id"])]
    assert stored_annotations(api_server.db_url, rows) == {
        fn["id"]: hundred, trigger["id"]: {}, created["id"]: {},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v2/apps", "App ID cannot be supplied on create"),
        ("/v2/fns", "ID cannot be provided for Fn creation"),
        ("/v2/triggers", "ID cannot be provided for Trigger creation"),
    ],
)
def test_an_id_on_create_is_400_with_fns_message(
    api: httpx.Client,
    make_fn: Callable[..., Obj],
    uniq: Callable[[str], str],
    path: str,
    message: str,
) -> None:
    fn = make_fn()
    bodies = {
        "/v2/apps": {"name": uniq("with-id")},
        "/v2/fns": {"name": "with-id", "app_id": fn["app_id"], "image": "x:1"},
        "/v2/triggers": {"name": "with-id", "app_id": fn["app_id"], "fn_id": fn["id"],
                         "type": "http", "source": "/with-id"},
    }  # fmt: skip
    r = post(api, path, {**bodies[path], "created_at": ZERO, "id": fn["id"], "updated_at": ZERO})
    assert (r.status_code, r.json()) == (400, {"message": message})
    # Go reads an empty id as none: created.
    assert ok(post(api, path, {**bodies[path], "id": ""}))["name"] == bodies[path]["name"]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("apps", "App ID in path does not match ID in body"),
        ("fns", "Fn ID in path does not match that in body"),
        ("triggers", "ID in path does not match ID in body"),
    ],
)
def test_an_id_that_is_not_the_paths_is_400_with_fns_message(
    api: httpx.Client, make_trigger: Callable[..., Obj], kind: str, message: str
) -> None:
    trigger = make_trigger()
    ids = {"apps": trigger["app_id"], "fns": trigger["fn_id"], "triggers": trigger["id"]}
    obj = ok(api.get(f"/v2/{kind}/{ids[kind]}"))
    # Fn checks the id before looking the object up: an unknown path is a 400 too.
    for path_id in (obj["id"], MISSING):
        r = put(api, f"/v2/{kind}/{path_id}", as_cli_sends(obj, id="01BBBBBBBBBBBBBBBBBBBBBBBB"))
        assert (r.status_code, r.json()) == (400, {"message": message})
    after = ok(api.get(f"/v2/{kind}/{obj['id']}"))
    assert after == obj
    # The path's own id (or an empty one) is what a client sends back: fine.
    assert ok(put(api, f"/v2/{kind}/{obj['id']}", as_cli_sends(obj)))["id"] == obj["id"]
    assert ok(put(api, f"/v2/{kind}/{obj['id']}", {"id": ""}))["id"] == obj["id"]


def test_a_changed_immutable_field_is_still_409(
    api: httpx.Client, make_app: Callable[..., Obj], make_trigger: Callable[..., Obj]
) -> None:
    trigger = make_trigger()
    fn = ok(api.get(f"/v2/fns/{trigger['fn_id']}"))
    app = ok(api.get(f"/v2/apps/{fn['app_id']}"))
    other_app = make_app()
    cases = [
        (f"/v2/apps/{app['id']}", as_cli_sends(app, name="renamed"),
         "Could not update - name is immutable"),
        (f"/v2/fns/{fn['id']}", as_cli_sends(fn, name="renamed"),
         "Could not update - fn name is immutable"),
        (f"/v2/fns/{fn['id']}", as_cli_sends(fn, app_id=other_app["id"]),
         "Could not update - a fn cannot move to another app"),
        (f"/v2/triggers/{trigger['id']}", as_cli_sends(trigger, name="renamed"),
         "Could not update - trigger name is immutable"),
        (f"/v2/triggers/{trigger['id']}", as_cli_sends(trigger, fn_id=MISSING),
         "Could not update - trigger fn_id is immutable"),
    ]  # fmt: skip
    for path, body, message in cases:
        r = put(api, path, body)
        assert (r.status_code, r.json()) == (409, {"message": message}), path
    assert ok(api.get(f"/v2/triggers/{trigger['id']}")) == trigger
    assert ok(api.get(f"/v2/fns/{fn['id']}")) == fn


def test_unknown_fields_are_still_400_and_timestamps_any_string(
    api: httpx.Client, make_fn: Callable[..., Obj], uniq: Callable[[str], str]
) -> None:
    fn = make_fn()
    r = put(api, f"/v2/fns/{fn['id']}", as_cli_sends(fn, cpus="100m"))
    assert (r.status_code, r.json()) == (400, {"message": "unknown field 'cpus'"})
    name = uniq("app")
    r = post(api, "/v2/apps", {"created_at": ZERO, "name": name, "routes": []})
    assert (r.status_code, r.json()) == (400, {"message": "unknown field 'routes'"})
    # Read-only timestamps are ignored whatever they say, but must be strings.
    app = ok(post(api, "/v2/apps", {"name": name, "created_at": "yesterday",
                                    "updated_at": "2999-01-01T00:00:00Z"}))  # fmt: skip
    assert_fresh_timestamps(app)
    assert app["updated_at"] == app["created_at"]
    r = put(api, f"/v2/apps/{app['id']}", {"created_at": 0})
    message = "created_at: Input should be a valid string"
    assert (r.status_code, r.json()) == (400, {"message": message})

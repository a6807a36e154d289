"""Names follow Fn's own validation (fnproject/fn api/models, hotfn/api/names.py): apps
and triggers take Unicode letters and numbers, '_' and '-'; fns what url.PathEscape
keeps; all at most 255 bytes of UTF-8. The refusals are in
tests/security/test_hostile_input.py."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest

from tests.api.conftest import Obj, ok

# Letters and numbers of any script (Lu, Ll, Lo, Nd, Nl, No), '_' and '-'.
LETTER_NAMES = ["é", "名前", "Ⅻ", "٣", "½", "ǅ", "ʰ", "_", "-", "A_b-9", "x" * 255,
                "é" * 127 + "a"]  # fmt: skip
FN_NAMES = ["a.b", "..", "~", "$x", "a&b", "a+b", "a:b", "a=b", "a@b", "A_b-9", "f" * 255]


@pytest.mark.parametrize("name", LETTER_NAMES)
def test_app_and_trigger_names_of_any_script(
    api: httpx.Client, make_fn: Callable[..., Obj], name: str
) -> None:
    # (Each backend's server lives for the session and this test runs once on it: the
    # name itself, not a unique variant, is what is created.)
    app_name = name
    app = ok(api.post("/v2/apps", json={"name": app_name}))
    assert app["name"] == app_name
    assert ok(api.get("/v2/apps", params={"name": app_name}))["items"] == [app]
    fn = make_fn(app)
    body = {"name": name, "app_id": app["id"], "fn_id": fn["id"], "type": "http",
            "source": "/s"}  # fmt: skip
    trigger = ok(api.post("/v2/triggers", json=body))
    assert trigger["name"] == name
    assert trigger["annotations"]["fnproject.io/trigger/httpEndpoint"].endswith(f"/t/{app_name}/s")
    # The app is found by its name in a trigger URL (percent-encoded on the wire).
    r = api.get(f"/t/{quote(app_name)}/nothing-here")
    assert r.status_code == 404
    assert r.json() == {"message": f"no trigger for path '/nothing-here' in app {app_name!r}"}


@pytest.mark.parametrize("name", FN_NAMES)
def test_fn_names_are_what_path_escape_keeps(
    api: httpx.Client, make_app: Callable[..., Obj], name: str
) -> None:
    app = make_app()
    fn = ok(api.post("/v2/fns", json={"name": name, "app_id": app["id"], "image": "x:1"}))
    assert fn["name"] == name
    found = ok(api.get("/v2/fns", params={"app_id": app["id"], "name": name}))["items"]
    assert found == [fn]


@pytest.mark.parametrize(
    ("path", "kind"), [("/v2/apps", "app"), ("/v2/fns", "fn"), ("/v2/triggers", "trigger")]
)
def test_the_limit_is_255_bytes_not_characters(
    api: httpx.Client, make_fn: Callable[..., Obj], path: str, kind: str
) -> None:
    fn = make_fn()
    base = {"/v2/apps": {}, "/v2/fns": {"app_id": fn["app_id"], "image": "x:1"},
            "/v2/triggers": {"app_id": fn["app_id"], "fn_id": fn["id"], "type": "http",
                             "source": "/long"}}[path]  # fmt: skip
    name = "é" * 128 if kind != "fn" else "f" * 256  # 256 bytes
    r = api.post(path, json={**base, "name": name})
    message = f"{kind} name must be 255 bytes or less (UTF-8); it has 256"
    assert (r.status_code, r.json()) == (400, {"message": message})


def test_refusals_say_what_is_allowed(api: httpx.Client, make_app: Callable[..., Obj]) -> None:
    r = api.post("/v2/apps", json={"name": "a b"})
    allowed = "use letters and digits (any script), '_' and '-'"
    message = f"app name 'a b' is not valid: {allowed}"
    assert (r.status_code, r.json()) == (400, {"message": message})
    app = make_app()
    r = api.post("/v2/fns", json={"name": "é", "app_id": app["id"], "image": "x:1"})
    allowed = "use ASCII letters, digits and - _ . ~ $ & + : = @"
    assert (r.status_code, r.json()) == (400, {"message": f"fn name 'é' is not valid: {allowed}"})
    r = api.post("/v2/apps", json={"name": ""})
    message = "app name is missing: give a non-empty name"
    assert (r.status_code, r.json()) == (400, {"message": message})

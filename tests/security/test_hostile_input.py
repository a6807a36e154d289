"""Hostile names, config keys and values: rejected with 400 or stored exactly, on
both datastores; values reach the function byte for byte and never a shell."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.docker_support import build_image
from tests.faults.support import DeployFactory

# Refused for apps, fns and triggers alike (Fn's name rules, hotfn/api/names.py).
BAD_NAMES = [
    "a/b", "../etc", "a\\b", "a\nb", "a\rb", "a\tb", "a\x1b[31m", "a\x7f", "a b",
    "a;rm -rf /", "$(id)", "`id`", "a\u202eb", "a\u200bb", "a\u3000b", "e\u0301", "a\u00b7b",
    "n" * 256, "\udcff", "",
]  # fmt: skip
# Letters of any script are app and trigger names (Go's unicode.IsLetter), not fn names
# (url.PathEscape would change them); '..' is a fn name (PathEscape keeps it) only.
BAD_APP_NAMES = [*BAD_NAMES, ".."]
BAD_FN_NAMES = [*BAD_NAMES, "é", "名前"]
BAD_KEYS = [
    "A/B", "../A", "A=B", "A\nB", "A B", "A\x00B", "A\x01", "é", "K" * 257, "1A", "$(id)",
    "A;B", "\udcff", "",
]  # fmt: skip
# Valid but hostile values: every one must come back exactly as sent.
VALUES = {
    "SUBST": "$(touch /tmp/pwned-MARK)",
    "TICKS": "`touch /tmp/pwned-MARK`",
    "CHAIN": "x; touch /tmp/pwned-MARK && echo y | sh",
    "LINES": "line1\nline2\r\nline3\r",
    "CTRL": "".join(chr(c) for c in range(1, 32)) + "\x7f",
    "QUOTES": "'\"\\ \\\\ \\n %s %n {0} ${HOME}",
    "UNICODE": "ünïcødé ✓ 🔥 \u202e reversed \ufeff",
    "TRAVERSAL": "../../../../etc/passwd",  # (not PATH: that would replace the image's)
    "EMPTYISH": " ",
    "BIG": "v" * 16384,
}


def _raw_post(api: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return api.post(path, content=body, headers={"content-type": "application/json"})


def test_hostile_names_are_rejected(api: httpx.Client, uniq: Callable[[str], str]) -> None:
    app = api.post("/v2/apps", json={"name": uniq("app")}).json()
    fn_body = {"app_id": app["id"], "image": "hotfn/none:1"}
    fn = api.post("/v2/fns", json={"name": uniq("fn"), **fn_body}).json()
    trigger_body = {"app_id": app["id"], "fn_id": fn["id"], "type": "http", "source": "/s"}
    cases = [("/v2/apps", {}, n) for n in BAD_APP_NAMES]
    cases += [("/v2/fns", fn_body, n) for n in BAD_FN_NAMES]
    cases += [("/v2/triggers", trigger_body, n) for n in BAD_APP_NAMES]
    for path, fields, name in cases:
        resp = _raw_post(api, path, json.dumps({**fields, "name": name}).encode())
        assert resp.status_code == 400, (path, name, resp.status_code, resp.text)
        assert "name" in resp.json()["message"], resp.text
    assert api.get("/v2/fns", params={"app_id": app["id"]}).json()["items"] == [fn]
    assert api.get("/v2/triggers", params={"app_id": app["id"]}).json()["items"] == []


def test_hostile_config_keys_are_rejected(api: httpx.Client, uniq: Callable[[str], str]) -> None:
    for key in BAD_KEYS:
        body = json.dumps({"name": uniq("app"), "config": {key: "v"}}).encode()
        resp = _raw_post(api, "/v2/apps", body)
        assert resp.status_code == 400, (key, resp.status_code, resp.text)
    assert api.get("/v2/apps", params={"name": "$(id)"}).json()["items"] == []


def test_hostile_values_are_stored_exactly(api: httpx.Client, uniq: Callable[[str], str]) -> None:
    app = api.post("/v2/apps", json={"name": uniq("app"), "config": VALUES}).json()
    assert app.get("config") == VALUES, app
    # Annotation values are at most 512 bytes as JSON: one annotation per value.
    small = {f"x.io/{k.lower()}": v for k, v in VALUES.items() if k != "BIG"}
    fn_body = {"name": uniq("fn"), "app_id": app["id"], "image": "hotfn/none:1",
               "config": VALUES, "annotations": small}  # fmt: skip
    resp = api.post("/v2/fns", json=fn_body)
    assert resp.status_code == 200, resp.text
    got = api.get(f"/v2/fns/{resp.json()['id']}").json()
    assert got["config"] == VALUES
    assert {k: got["annotations"].get(k) for k in small} == small
    assert api.get(f"/v2/apps/{app['id']}").json()["config"] == VALUES


NON_UTF8 = [
    b'{"name": "\xff\xfe"}',
    b'{"name": "ok\xc3"}',
    b'{"name": "okname", "config": {"K": "\xed\xa0\x80"}}',  # an encoded surrogate
    b'{"name": "okname", "config": {"K": "\\udcff"}}',
    b'{"name": "okname", "config": {"\\ud800": "v"}}',
]
SURROGATE_ANNOTATIONS = [
    b'{"name": "okname", "annotations": {"k": "\\ud800x"}}',
    b'{"name": "okname", "annotations": {"k": ["\\udcff"]}}',
    b'{"name": "okname", "annotations": {"k": {"\\udcff": 1}}}',
]


@pytest.mark.parametrize(
    "body",
    NON_UTF8 + SURROGATE_ANNOTATIONS,
)
def test_non_utf8_and_lone_surrogates_are_rejected(
    api: httpx.Client, uniq: Callable[[str], str], body: bytes
) -> None:
    body = body.replace(b"okname", uniq("app").encode())
    resp = _raw_post(api, "/v2/apps", body)
    assert resp.status_code == 400, (body, resp.status_code, resp.text)


# -- on the real engine: values reach the function exactly, no shell sees them ----------


def _hotwrap_env_image() -> str:
    """hotwrap running a Python one-liner (argv, no shell) that prints its env."""
    return build_image(
        "hotfn-test/hotwrap-env:1",
        "FROM hotfn/base:latest\nCOPY --from=hotfn/hotwrap:latest /hotwrap /hotwrap\n"
        'ENTRYPOINT ["/hotwrap"]\n'
        'CMD ["python3", "-c", "import os, json, sys; json.dump(dict(os.environ), sys.stdout)"]\n',
    )


@pytest.mark.docker
def test_hostile_values_reach_functions_exactly_and_no_shell(deploy: DeployFactory) -> None:
    mark = secrets.token_hex(6)
    values = {k: v.replace("MARK", mark) for k, v in VALUES.items() if k != "BIG"}
    d = deploy()
    fn = d.fn(config=values)
    resp = d.call(fn, "env")
    assert resp.status_code == 200, resp.text
    env = resp.json()
    assert {k: env.get(k) for k in values} == values

    # hotwrap: a client's header values become FN_HTTP_H_* of the command's env.
    wrapped = d.fn(image=_hotwrap_env_image())
    trig = {"name": "t", "app_id": d.app["id"], "fn_id": wrapped["id"], "type": "http",
            "source": "/env"}  # fmt: skip
    assert d.client.post("/v2/triggers", json=trig).status_code == 200
    header = values["CHAIN"] + " " + values["SUBST"]
    resp = d.client.post(f"/t/{d.app['name']}/env", content=b"", headers={"X-Evil": header})
    assert resp.status_code == 200, resp.text
    assert resp.json()["FN_HTTP_H_X_EVIL"] == header

    # Nothing ran the values: no marker file in the container or on the host.
    resp = d.call(fn, f"exists:/tmp/pwned-{mark}")
    assert resp.json() == {"exists": False}
    assert not Path(f"/tmp/pwned-{mark}").exists()

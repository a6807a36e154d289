"""Node functions on Fn's Node FDK (``@fnproject/fdk`` in hotfn/node), end to end: the
installed ``hotfn`` command, a real ``hotfn start`` (warm generic containers on, as
by default) and the real engine.

One test function (``node_fdk/func.js``) covers the FDK's API; it is deployed from a
func.yaml as Fn's CLI writes it (``runtime: node``, Fn's image names, a package.json
that depends on the FDK), and more fns are made from its image with the API.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.cli_support import Result, hotfn
from tests.docker_support import containers_with, docker, ensure_images
from tests.server_support import ServerProcess
from tests.waiting import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PREFIX = "nodefdk" + secrets.token_hex(3)  # every image and app name of this module
FUNC_JS = Path(__file__).resolve().parent / "node_fdk" / "func.js"
Obj = dict[str, Any]

# As `fn init --runtime node` writes them (Fn's CLI 0.6).
FN_FUNC_YAML = """\
schema_version: 20180708
name: {name}
version: 0.0.1
runtime: node
build_image: fnproject/node:18-dev
run_image: fnproject/node:18
entrypoint: node func.js
triggers:
- name: {name}
  type: http
  source: /{name}
"""
FN_PACKAGE_JSON = """\
{"name": "hellofn", "version": "1.0.0", "description": "example function", "main": "func.js",
 "author": "", "license": "Apache-2.0", "dependencies": {"@fnproject/fdk": ">=0.0.76"}}
"""


@pytest.fixture(scope="module")
def server(make_server: Callable[..., ServerProcess]) -> Iterator[ServerProcess]:
    ensure_images()
    srv = make_server(None, HOTFN_GENERIC_POOL_SIZE="1")
    yield srv
    srv.stop()  # its containers go with it, before their images are removed
    try:
        instance = (srv.data_dir / "instance").read_text().strip()
        left = containers_with({"io.hotfn.instance": instance})
    finally:
        images = [
            line for line in docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
            if line.startswith(PREFIX)
        ]  # fmt: skip
        if images:
            docker("rmi", "-f", *images)
    assert not left, f"containers left behind: {left}"


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def run(server: ServerProcess, *args: str, cwd: Path, stdin: str | None = None) -> Result:
    result = hotfn(*args, cwd=cwd, env={"HOTFN_API_URL": server.url}, stdin=stdin)
    assert result.code == 0, f"exit {result.code}\nstdout: {result.out}\nstderr: {result.err}"
    return result


def ok(resp: httpx.Response) -> Obj:
    assert resp.status_code == 200, resp.text
    out: Obj = resp.json()
    return out


@pytest.fixture(scope="module")
def deployed(
    server: ServerProcess, api: httpx.Client, tmp_path_factory: pytest.TempPathFactory
) -> Obj:
    """The test function, deployed from Fn's func.yaml; its fn object."""
    name, app = f"{PREFIX}-fdk", f"{PREFIX}-app"
    fn_dir = tmp_path_factory.mktemp("fnfdk") / name
    fn_dir.mkdir()
    (fn_dir / "func.yaml").write_text(FN_FUNC_YAML.format(name=name))
    (fn_dir / "package.json").write_text(FN_PACKAGE_JSON)
    (fn_dir / "func.js").write_text(FUNC_JS.read_text())
    out = run(server, "deploy", "--app", app, "--create-app", "--local", cwd=fn_dir)
    assert "using hotfn/node:latest for fnproject/node:18" in out.err
    apps = ok(api.get("/v2/apps", params={"name": app}))["items"]
    fns = ok(api.get("/v2/fns", params={"app_id": apps[0]["id"], "name": name}))["items"]
    fn: Obj = fns[0]
    fn["app_name"] = app
    return fn


def another_fn(api: httpx.Client, like: Obj, memory: int = 128, **config: str) -> Obj:
    """A new fn of the same app and image (``config`` as its config)."""
    body = {"name": f"{PREFIX}-{secrets.token_hex(3)}", "app_id": like["app_id"],
            "image": like["image"], "memory": memory, "config": config}  # fmt: skip
    return ok(api.post("/v2/fns", json=body))


def invoke(api: httpx.Client, fn: Obj, test: str, body: bytes = b"") -> httpx.Response:
    return api.post(f"/invoke/{fn['id']}", content=body, headers={"X-Test": test})


def warm_node_containers(server: ServerProcess) -> list[str]:
    """The server's idle generic node containers: their loader's socket is up."""
    instance = (server.data_dir / "instance").read_text().strip()
    labels = {"io.hotfn.instance": instance, "io.hotfn.kind": "generic",
              "io.hotfn.runtime": "node"}  # fmt: skip
    warm = []
    for cid in containers_with(labels):
        iofs = docker("inspect", "-f", IOFS_SOURCE, cid).strip()
        if iofs and (Path(iofs) / "generic.sock").is_symlink():
            warm.append(cid)
    return warm


IOFS_SOURCE = '{{range .Mounts}}{{if eq .Destination "/tmp/iofs"}}{{.Source}}{{end}}{{end}}'


def records(api: httpx.Client, fn: Obj) -> list[Obj]:
    """The fn's call records, oldest first."""
    items: list[Obj] = ok(api.get(f"/v2/fns/{fn['id']}/calls", params={"per_page": 100}))["items"]
    return sorted(items, key=lambda rec: str(rec["id"]))


def test_init_deploy_invoke_writes_an_fdk_function_served_hot(
    server: ServerProcess, tmp_path: Path
) -> None:
    name, app = f"{PREFIX}-init", f"{PREFIX}-init"
    run(server, "init", "--runtime", "node", name, cwd=tmp_path)
    fn_dir = tmp_path / name
    assert 'require("@fnproject/fdk")' in (fn_dir / "func.js").read_text()
    assert "entrypoint: node func.js\n" in (fn_dir / "func.yaml").read_text()
    run(server, "deploy", "--app", app, "--create-app", "--local", cwd=fn_dir)
    for who in ("Ann", "Bob"):
        called = run(server, "invoke", app, name, cwd=tmp_path, stdin=json.dumps({"name": who}))
        assert json.loads(called.out) == {"message": f"Hello {who}"}
    calls = json.loads(run(server, "calls", app, name, "-o", "json", cwd=tmp_path).out)
    items = calls if isinstance(calls, list) else calls["items"]
    paths = sorted(c["start_path"] for c in items)
    assert paths == ["hot", "specialised"]  # a warm generic node container, then hot
    assert len({c["container_id"] for c in items}) == 1


def test_status_and_headers_from_http_gateway_reach_the_trigger_caller(
    server: ServerProcess, deployed: Obj
) -> None:
    url = f"{server.url}/t/{deployed['app_name']}/{deployed['name']}"
    headers = {"X-Test": "gateway", "X-Asked": "why"}
    resp = httpx.post(url, content=b"x", headers=headers, timeout=60)
    assert resp.status_code == 201
    assert resp.headers["x-answer"] == "forty-two"
    assert resp.headers["content-type"].startswith("text/plain")
    assert resp.text == "POST why"


@pytest.mark.parametrize(
    ("mode", "body", "seen"),
    [
        ("json", b'{"a": [1, 2]}', {"kind": "object", "value": {"a": [1, 2]}}),
        ("json", b"not json", {"kind": "string", "value": "not json"}),
        ("string", b'{"a": 1}', {"kind": "string", "value": '{"a": 1}'}),
        ("buffer", b"\x00\xffhi", {"kind": "buffer", "bytes": [0, 255, 104, 105]}),
    ],
)
def test_input_modes(api: httpx.Client, deployed: Obj, mode: str, body: bytes, seen: Obj) -> None:
    fn = deployed if mode == "json" else another_fn(api, deployed, INPUT_MODE=mode)
    resp = invoke(api, fn, "describe", body)
    assert resp.status_code == 200, resp.text
    assert resp.json() == seen


def test_async_handler(api: httpx.Client, deployed: Obj) -> None:
    resp = invoke(api, deployed, "async")
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["awaited"] is True and answer["fn"] == deployed["id"]


def test_a_throwing_handler_gives_502_with_its_message_and_the_next_call_works(
    server: ServerProcess, api: httpx.Client, deployed: Obj, tmp_path: Path
) -> None:
    fn = another_fn(api, deployed)
    before = invoke(api, fn, "async").json()
    failed = invoke(api, fn, "throw")
    assert failed.status_code == 502 and failed.json() == {"message": "function failed"}
    call_id = failed.headers["fn-call-id"]

    def logged() -> bool:
        resp = api.get(f"/v2/fns/{fn['id']}/calls/{call_id}/log")
        return resp.status_code == 200 and "boom from the node handler" in resp.text

    wait_until(logged, within_s=10)
    after = invoke(api, fn, "async")
    assert after.status_code == 200
    assert after.json()["pid"] == before["pid"] and after.json()["started"] == before["started"]


def test_a_streamed_result_reaches_the_client_before_the_handler_ends(
    api: httpx.Client, deployed: Obj
) -> None:
    headers = {"X-Test": "stream", "X-Hold-Ms": "4000"}
    with api.stream("POST", f"/invoke/{deployed['id']}", headers=headers) as resp:
        assert resp.status_code == 200
        chunks = resp.iter_bytes()
        first = next(chunks)
        # The handler holds "last" back for 4 s: what came so far is the first chunk.
        assert first == b"first\n"
        rest = b"".join(chunks)
    assert first + rest == b"first\nlast\n"


def test_a_specialised_generic_node_container_serves_one_fn_only(
    server: ServerProcess, api: httpx.Client, deployed: Obj
) -> None:
    # 192 MB: not the generic containers' 128, so the live update shows.
    one, two = another_fn(api, deployed, memory=192), another_fn(api, deployed, memory=192)
    answers: dict[str, set[tuple[int, str]]] = {}
    for i, fn in enumerate((one, two, one, two)):
        if i < 2:  # a first call: the pool (one warm container) has refilled
            wait_until(lambda: warm_node_containers(server), within_s=30)
        resp = invoke(api, fn, "async")
        assert resp.status_code == 200, resp.text
        answer = resp.json()
        assert answer["fn"] == fn["id"]
        answers.setdefault(fn["id"], set()).add((answer["pid"], answer["started"]))
    assert all(len(seen) == 1 for seen in answers.values())  # one process per fn
    recs = {fn["id"]: records(api, fn) for fn in (one, two)}
    for fn_id, recs_of_fn in recs.items():
        assert [r["start_path"] for r in recs_of_fn] == ["specialised", "hot"], fn_id
    ids = {fn_id: {r["container_id"] for r in rs} for fn_id, rs in recs.items()}
    assert all(len(c) == 1 for c in ids.values())
    assert ids[one["id"]].isdisjoint(ids[two["id"]])
    for container in ids[one["id"]] | ids[two["id"]]:  # the fn's memory, set live
        memory = docker("inspect", "-f", "{{.HostConfig.Memory}}", container).strip()
        assert int(memory) == 192 * 1024 * 1024

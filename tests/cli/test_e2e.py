"""End to end, as a user works: the installed ``hotfn`` command in a temp directory,
a real server (``hotfn start``) and the real Docker Engine, images built with
``--local``. Every image these tests build is removed at the end, and the server's
containers with it (the server removes them when it stops; checked by label)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.cli_support import Result, hotfn
from tests.docker_support import containers_with, docker, ensure_images
from tests.server_support import ServerProcess

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PREFIX = "clit" + secrets.token_hex(3)  # every image and app name of this module


@pytest.fixture(scope="module")
def server(make_server: Callable[..., ServerProcess]) -> Iterator[ServerProcess]:
    ensure_images()
    srv = make_server(None)
    yield srv
    srv.stop()  # its containers go with it, before their images are removed
    try:
        instance = (srv.data_dir / "instance").read_text().strip()
        left = containers_with({"io.hotfn.instance": instance})
    finally:  # the images go even if the check above could not run
        images = [
            line for line in docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
            if line.startswith(PREFIX)
        ]  # fmt: skip
        if images:
            docker("rmi", "-f", *images)
    assert not left, f"containers left behind: {left}"


@pytest.fixture
def user(server: ServerProcess, tmp_path: Path) -> Callable[..., Result]:
    """``hotfn ARGS`` in a fresh directory against the test server (``cwd=`` to move)."""

    def run(*args: str, cwd: Path | None = None, stdin: str | None = None) -> Result:
        return hotfn(*args, cwd=cwd or tmp_path, env={"HOTFN_API_URL": server.url}, stdin=stdin)

    return run


def ok(result: Result) -> Result:
    assert result.code == 0, f"exit {result.code}\nstdout: {result.out}\nstderr: {result.err}"
    return result


FORMS = [(r, f) for r in ("python", "node", "docker") for f in ("http-stream", "default")]


@pytest.mark.parametrize(("runtime", "fmt"), FORMS)
def test_init_deploy_invoke(
    user: Callable[..., Result], tmp_path: Path, runtime: str, fmt: str
) -> None:
    name = f"{PREFIX}-{runtime}-{fmt}"
    ok(user("init", "--runtime", runtime, "--format", fmt, name))
    deployed = ok(user("deploy", "--app", f"{PREFIX}-forms", "--create-app", "--local",
                       cwd=tmp_path / name))  # fmt: skip
    assert f"Deployed {name} 0.0.1 to app {PREFIX}-forms" in deployed.out
    assert "/invoke/" in deployed.out
    called = ok(user("invoke", f"{PREFIX}-forms", name, "--display-call-id",
                     stdin='{"name": "Ann"}'))  # fmt: skip
    assert json.loads(called.out) == {"message": "Hello Ann"}
    if fmt == "default":  # a cold call's stderr is complete when the call is
        call_id = called.err.split("Call ID: ", 1)[1].split()[0]
        assert f"Ann called call {call_id}" in ok(user("logs", f"{PREFIX}-forms", name)).out


def test_redeploy_bumps_keeps_comments_runs_new_code(
    user: Callable[..., Result], server: ServerProcess, tmp_path: Path
) -> None:
    name, app = f"{PREFIX}-bump", f"{PREFIX}-bump"
    ok(user("init", "--runtime", "python", "--trigger", "http", name))
    fn_dir = tmp_path / name
    funcfile = fn_dir / "func.yaml"
    text = "# owned by the team -- keep me\n" + funcfile.read_text().replace(
        "memory: 256", "memory: 256   # MB, enough for the FDK\n\n# trailing note"
    )
    funcfile.write_text(text)
    ok(user("deploy", "--app", app, "--create-app", "--local", cwd=fn_dir))
    assert funcfile.read_text() == text  # the first deploy ships 0.0.1 as written
    assert json.loads(ok(user("invoke", app, name, "-d", "Ann")).out) == {"message": "Hello Ann"}

    handler = fn_dir / "func.py"
    handler.write_text(handler.read_text().replace('f"Hello {name}"', 'f"Howdy {name}"'))
    second = ok(user("deploy", "--app", app, "--local", cwd=fn_dir))
    assert f"Deployed {name} 0.0.2" in second.out and "Bumped to version 0.0.2" in second.err
    assert funcfile.read_text() == text.replace("version: 0.0.1", "version: 0.0.2")
    assert sorted(p.name for p in fn_dir.iterdir()) == ["func.py", "func.yaml"]  # nothing left

    called = ok(user("invoke", app, name, "-d", "Bob", "--display-call-id"))
    assert json.loads(called.out) == {"message": "Howdy Bob"}
    call_id = called.err.split("Call ID: ", 1)[1].split()[0]

    trigger_url = f"{server.url}/t/{app}/{name}"
    assert f"trigger {name}: {trigger_url}" in second.out
    answer = httpx.post(trigger_url, content=b'{"name": "Cy"}', timeout=30)
    assert answer.status_code == 200 and answer.json() == {"message": "Howdy Cy"}

    calls = json.loads(ok(user("calls", app, name, "-o", "json")).out)
    assert call_id in {c["id"] for c in calls}


FN_FUNC_YAML = """\
schema_version: 20180708
name: {name}
version: 0.0.1
runtime: python
build_image: fnproject/python:3.11-dev
run_image: fnproject/python:3.11
entrypoint: /python/bin/fdk /function/func.py handler
memory: 256
triggers:
- name: {name}
  type: http
  source: /{name}
config:
  GREETING: Howdy
"""

FN_FUNC_PY = """\
import os

def handler(ctx, data):
    body = bytes(data).decode()
    if body == "boom":
        raise ValueError("boom")
    return os.environ["GREETING"] + " " + body
"""


def test_fn_cli_funcfile_deploys(
    user: Callable[..., Result], server: ServerProcess, tmp_path: Path
) -> None:
    name, app = f"{PREFIX}-fnpy", f"{PREFIX}-fn"
    fn_dir = tmp_path / name
    fn_dir.mkdir()
    (fn_dir / "func.yaml").write_text(FN_FUNC_YAML.format(name=name))
    (fn_dir / "func.py").write_text(FN_FUNC_PY)
    missing = user("deploy", "--app", app, "--local", cwd=fn_dir)
    assert missing.code == 1 and "--create-app" in missing.err

    deployed = ok(user("deploy", "--app", app, "--create-app", "--local", cwd=fn_dir))
    assert "using hotfn/python:latest for fnproject/python:3.11" in deployed.err
    assert ok(user("invoke", app, name, "-d", "Ann")).out == "Howdy Ann"
    assert ok(user("config", "fn", "get", app, name, "GREETING")).out == "Howdy\n"
    answer = httpx.post(f"{server.url}/t/{app}/{name}", content=b"Bo", timeout=30)
    assert answer.status_code == 200 and answer.text == "Howdy Bo"

    failed = user("invoke", app, name, "-d", "boom")
    assert failed.code == 1 and len(failed.err_lines()) == 1, failed
    assert "HTTP 502" in failed.err and f"hotfn logs {app} {name} " in failed.err


def test_build_failure_shows_the_builders_message(
    user: Callable[..., Result], tmp_path: Path
) -> None:
    name = f"{PREFIX}-broken"
    ok(user("init", "--runtime", "docker", name))
    # Failing at the first step leaves no layer behind to clean up.
    (tmp_path / name / "Dockerfile").write_text("FROM hotfn/base:latest\nRUN exit 3\n")
    result = user("build", cwd=tmp_path / name)
    assert result.code == 1
    last = result.err_lines()[-1]
    assert last.startswith(f"error: building {name}:0.0.1 failed: The command")
    assert "returned a non-zero code: 3" in last and "Traceback" not in result.err


def test_logs_of_a_hot_call(user: Callable[..., Result], tmp_path: Path) -> None:
    name = f"{PREFIX}-hotlog"
    ok(user("init", "--runtime", "python", name))
    ok(user("deploy", "--app", f"{PREFIX}-forms", "--create-app", "--local", cwd=tmp_path / name))
    called = ok(user("invoke", f"{PREFIX}-forms", name, "-d", "Dee", "--display-call-id"))
    call_id = called.err.split("Call ID: ", 1)[1].split()[0]
    deadline = time.monotonic() + 3
    while f"Dee called call {call_id}" not in (
        log := ok(user("logs", f"{PREFIX}-forms", name, call_id)).out
    ):
        assert time.monotonic() < deadline, f"log of {call_id}: {log!r}"
        time.sleep(0.2)


def test_deploy_prewarm_leaves_a_hot_container(user: Callable[..., Result], tmp_path: Path) -> None:
    name = f"{PREFIX}-prewarm"
    ok(user("init", "--runtime", "python", name))
    deployed = ok(user("deploy", "--app", f"{PREFIX}-forms", "--create-app", "--local",
                       "--prewarm", cwd=tmp_path / name))  # fmt: skip
    assert "prewarmed: a hot container is ready" in deployed.out
    ok(user("invoke", f"{PREFIX}-forms", name, stdin='{"name": "Pre"}'))
    calls = json.loads(ok(user("calls", f"{PREFIX}-forms", name, "-o", "json")).out)
    items = calls if isinstance(calls, list) else calls["items"]
    assert [c["start_path"] for c in items] == ["prewarmed"]

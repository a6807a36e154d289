"""The CLI without Docker: help, one-line errors and exit codes, init's output (what
Fn's CLI accepts), output formats, and management commands against a real server."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer

from hotfn.cli.main import app
from hotfn.cli.templates import hotwrap_snippet
from tests.cli.cli_support import cli, hotfn
from tests.cli.fn_rules import fn_cli_rejections
from tests.server_support import ServerProcess
from tests.waiting import wait_until


def _leaf_commands() -> list[list[str]]:
    """Every visible command path (``["create", "app"]``, ``["deploy"]``, ...)."""
    root = typer.main.get_command(app)
    found: list[list[str]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if not subs:
            found.append(path)
            return
        for name, sub in subs.items():
            if not getattr(sub, "hidden", False):
                walk(sub, [*path, name])

    walk(root, [])
    return found


COMMANDS = _leaf_commands()


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_has_help_with_an_example(
    capsys: pytest.CaptureFixture[str], path: list[str]
) -> None:
    result = cli(capsys, *path, "--help")
    assert result.code == 0, result.err
    assert re.search(r"Example: .*hotfn ", result.out), result.out


def test_the_command_set(capsys: pytest.CaptureFixture[str]) -> None:
    names = {" ".join(p) for p in COMMANDS}
    expected = {
        "init", "build", "deploy", "invoke", "logs", "calls", "start", "version",
        "hotwrap-snippet", "create app", "list fns", "inspect trigger", "update fn",
        "delete trigger", "config app set", "config fn unset",
    }  # fmt: skip
    assert expected <= names


@pytest.mark.parametrize(
    "args",
    [
        ["deploy", "--bogus"],
        ["invoke"],
        ["create", "fn", "a", "b", "img:1", "--memory", "lots"],
        ["init", "--runtime", "cobol"],
        ["init", "--format", "json"],
        ["list", "apps", "-o", "xml"],
        ["nosuchcommand"],
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    result = cli(capsys, "--api-url", "http://127.0.0.1:9", *args)
    assert result.code == 2
    assert len(result.err_lines()) == 1 and result.err.startswith("error: "), result.err
    assert "Traceback" not in result.err


def test_installed_command_bad_flag_and_bad_funcfile(tmp_path: Path) -> None:
    result = hotfn("deploy", "--app", "a", "--no-such-flag", cwd=tmp_path)
    assert result.code == 2 and result.err_lines() == [
        "error: No such option: --no-such-flag (see `hotfn deploy --help`)"
    ]
    (tmp_path / "func.yaml").write_text("schema_version: 20180708\nname: a\nmemory: huge\n")
    result = hotfn("deploy", "--app", "a", "--local", cwd=tmp_path)
    assert result.code == 2, result
    assert result.err_lines() == [
        "error: func.yaml: memory: must be a whole number from 1 to 8192 (MB), got 'huge'"
    ]


def test_server_not_running_says_how_to_start_it(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "--api-url", "http://127.0.0.1:9", "list", "apps")
    assert result.code == 1 and len(result.err_lines()) == 1
    assert "cannot reach the hotfn server at http://127.0.0.1:9" in result.err
    assert "hotfn start" in result.err


def test_docker_not_running_says_so(tmp_path: Path) -> None:
    fake = tmp_path / "docker"
    fake.write_text(
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
        "Is the docker daemon running?' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    fn_dir = tmp_path / "f"
    assert hotfn("init", "--runtime", "python", str(fn_dir), cwd=tmp_path).code == 0
    result = hotfn("build", cwd=fn_dir, env={"HOTFN_DOCKER": str(fake)})
    assert result.code == 1 and len(result.err_lines()) == 1, result
    assert result.err.startswith("error: Docker is not running or not reachable (Cannot connect")


FORMS = [
    (runtime, fmt, wrap)
    for runtime in ("python", "node", "docker")
    for fmt in ("http-stream", "default")
    for wrap in (False, True)
]


@pytest.mark.parametrize(("runtime", "fmt", "wrap"), FORMS)
def test_init_writes_what_fn_cli_accepts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, runtime: str, fmt: str, wrap: bool
) -> None:
    target = tmp_path / "my-fn"
    args = ["init", "--runtime", runtime, "--format", fmt, "--trigger", "http", str(target)]
    result = cli(capsys, *args, *(["--hotwrap"] if wrap else []))
    assert result.code == 0, result.err
    assert fn_cli_rejections(target) == []
    text = (target / "func.yaml").read_text()
    assert f"format: {fmt}\n" in text and "name: my-fn\n" in text and "version: 0.0.1\n" in text
    if runtime == "docker":
        dockerfile = (target / "Dockerfile").read_text()
        uses_hotwrap = wrap or fmt == "http-stream"
        assert ('ENTRYPOINT ["/hotwrap"]' in dockerfile) == uses_hotwrap
        assert "FROM hotfn/base:latest" in dockerfile


@pytest.mark.parametrize(("fmt", "wrap", "form"), [
    ("http-stream", False, "fdk"), ("http-stream", True, "hotwrap"), ("default", False, "stdio"),
])  # fmt: skip
def test_init_node_writes_an_fdk_function_unless_asked_otherwise(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str, wrap: bool, form: str
) -> None:
    target = tmp_path / "n"
    args = ["init", "--runtime", "node", "--format", fmt, str(target)]
    assert cli(capsys, *args, *(["--hotwrap"] if wrap else [])).code == 0
    func_js, funcyaml = (target / "func.js").read_text(), (target / "func.yaml").read_text()
    assert ('require("@fnproject/fdk")' in func_js) == (form == "fdk")
    assert (target / "package.json").exists() == (form == "fdk")
    entrypoint = {"fdk": "node func.js", "hotwrap": "/hotwrap", "stdio": "node func.js"}[form]
    assert f"entrypoint: {entrypoint}\n" in funcyaml
    assert ("cmd: node func.js\n" in funcyaml) == (form == "hotwrap")


def test_init_refuses_to_overwrite(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli(capsys, "init", str(tmp_path / "a")).code == 0
    result = cli(capsys, "init", "--force", str(tmp_path / "a"))
    assert result.code == 0
    result = cli(capsys, "init", "--name", "Bad:Name", str(tmp_path / "b"))
    assert result.code == 2 and "cannot name an image" in result.err


def test_hotwrap_snippet(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "hotwrap-snippet", "--command", "python3 func.py")
    assert result.code == 0 and result.out == hotwrap_snippet(command="python3 func.py")


# -- against a real server (no containers needed) --------------------------------------


@pytest.fixture(scope="module")
def server(make_server: Callable[..., ServerProcess]) -> ServerProcess:
    return make_server(None)


@pytest.fixture
def api_env(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("HOTFN_API_URL", server.url)
    yield server.url


def test_management_round_trip(
    capsys: pytest.CaptureFixture[str], api_env: str, uniq: Callable[[str], str]
) -> None:
    name = uniq("app")

    def ok(*args: str) -> str:
        result = cli(capsys, *args)
        assert result.code == 0, (args, result)
        return result.out

    ok("create", "app", name, "--config", "A=1")
    assert name in ok("list", "apps")
    listed = json.loads(ok("list", "apps", "-o", "json"))
    assert any(a["name"] == name and a["config"] == {"A": "1"} for a in listed)
    assert f"name: {name}" in ok("list", "apps", "-o", "yaml")
    ok("create", "fn", name, "hello", "hello:0.0.1", "--memory", "64", "--format", "default")
    fn = json.loads(ok("inspect", "fn", name, "hello"))
    assert (fn["image"], fn["memory"], fn["format"]) == ("hello:0.0.1", 64, "default")
    assert ok("inspect", "fn", name, "hello", "--endpoint").strip().endswith(f"/invoke/{fn['id']}")
    ok("update", "fn", name, "hello", "--image", "hello:0.0.2", "--timeout", "60")
    assert json.loads(ok("inspect", "fn", name, "hello", "timeout")) == 60
    ok("create", "trigger", name, "hello", "hi", "--source", "/hi")
    rows = json.loads(ok("list", "triggers", name, "-o", "json"))
    assert [(t["name"], t["source"]) for t in rows] == [("hi", "/hi")]
    url = ok("inspect", "trigger", name, "hello", "hi", "--endpoint").strip()
    assert url.endswith(f"/t/{name}/hi")
    ok("update", "trigger", name, "hello", "hi", "--source", "/hey")
    assert json.loads(ok("inspect", "trigger", name, "hello", "hi", "source")) == "/hey"
    ok("config", "fn", "set", name, "hello", "GREETING", "hi there")
    assert ok("config", "fn", "get", name, "hello", "GREETING") == "hi there\n"
    assert json.loads(ok("config", "fn", "list", name, "hello", "-o", "json")) == {
        "GREETING": "hi there"
    }
    ok("config", "fn", "unset", name, "hello", "GREETING")
    assert cli(capsys, "config", "fn", "get", name, "hello", "GREETING").code == 1
    ok("config", "app", "set", name, "B", "2")
    assert "B    2" in ok("config", "app", "list", name)
    ok("delete", "trigger", name, "hello", "hi")
    ok("delete", "fn", name, "hello")
    ok("delete", "app", name)
    missing = cli(capsys, "inspect", "app", name)
    assert missing.code == 1 and "hotfn create app" in missing.err


def test_server_refusals_are_one_line(
    capsys: pytest.CaptureFixture[str], api_env: str, uniq: Callable[[str], str]
) -> None:
    name = uniq("app")
    assert cli(capsys, "create", "app", name).code == 0
    again = cli(capsys, "create", "app", name)
    assert again.code == 1 and len(again.err_lines()) == 1 and "(HTTP 409)" in again.err
    bad = cli(capsys, "create", "fn", name, "f", "NOT AN IMAGE")
    assert bad.code == 1 and len(bad.err_lines()) == 1 and "(HTTP 400)" in bad.err
    missing = cli(capsys, "invoke", name, "nope", "-d", "")
    assert missing.code == 1 and "function 'nope' not found" in missing.err
    cli(capsys, "delete", "app", name)


def test_deploy_to_missing_app_suggests_create_app(
    capsys: pytest.CaptureFixture[str], api_env: str, tmp_path: Path, uniq: Callable[[str], str]
) -> None:
    assert cli(capsys, "init", str(tmp_path / "f")).code == 0
    result = cli(capsys, "deploy", "--app", uniq("none"), "--local", str(tmp_path / "f"))
    assert result.code == 1 and len(result.err_lines()) == 1
    assert "pass --create-app" in result.err


def test_failed_detached_calls_listed_and_retried(
    capsys: pytest.CaptureFixture[str], api_env: str, uniq: Callable[[str], str]
) -> None:
    name = uniq("app")
    assert cli(capsys, "create", "app", name).code == 0
    # An image no engine has and no registry may give: every attempt fails.
    assert cli(capsys, "create", "fn", name, "gone", "hotfn-test/no-such-image:1").code == 0
    fn = json.loads(cli(capsys, "inspect", "fn", name, "gone").out)
    http = httpx.Client(base_url=api_env)
    http.put(f"/v2/fns/{fn['id']}", json={"annotations": {"hotfn.io/async-retries": 0}})
    resp = http.post(f"/invoke/{fn['id']}", headers={"Fn-Invoke-Type": "detached"})
    assert resp.status_code == 202, resp.text
    call_id = resp.headers["fn-call-id"]

    def failed() -> list[Any]:
        result = cli(capsys, "calls", name, "gone", "--status", "failed", "-o", "json")
        assert result.code == 0, result.err
        rows: list[Any] = json.loads(result.out)
        return rows

    wait_until(failed, within_s=30, what="the detached call is listed as failed")
    [row] = failed()
    assert (row["id"], row["attempts"]) == (call_id, 1) and row["error"]
    retried = cli(capsys, "retry", name, "gone", call_id, "-o", "json")
    assert retried.code == 0, retried.err
    assert json.loads(retried.out)["status"] == "queued"
    again = cli(capsys, "retry", name, "gone", "01JD5Q3W3ZQ8F4N5X2Y7K9M0AB")
    assert again.code == 1 and "(HTTP 404)" in again.err
    http.close()

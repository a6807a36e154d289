"""``hotfn deploy`` through a registry (no ``--local``): build, tag, push with
progress, pin the fn to the pushed digest. A real server, the real engine and a
real ``docker-registry`` on loopback."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.cli_support import Result, hotfn
from tests.docker_support import containers_with, docker, ensure_images
from tests.registry_support import LocalRegistry, local_registry
from tests.server_support import ServerProcess, free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PREFIX = "clireg" + secrets.token_hex(3)


@pytest.fixture(scope="module")
def registry() -> Iterator[LocalRegistry]:
    with local_registry() as reg:
        yield reg


@pytest.fixture(scope="module")
def server(make_server: Callable[..., ServerProcess]) -> Iterator[ServerProcess]:
    ensure_images()
    srv = make_server(None)
    yield srv
    srv.stop()
    instance = (srv.data_dir / "instance").read_text().strip()
    left = containers_with({"io.hotfn.instance": instance})
    # By id: an image replaced under its tag is left as "<none>".
    images = {
        line.split()[0]
        for line in docker("images", "--format", "{{.ID}} {{.Repository}}").splitlines()
        if PREFIX in line
    }
    if images:
        docker("rmi", "-f", *images)
    assert not left, f"containers left behind: {left}"


@pytest.fixture
def user(server: ServerProcess, tmp_path: Path) -> Callable[..., Result]:
    def run(*args: str, cwd: Path | None = None, stdin: str | None = None) -> Result:
        return hotfn(*args, cwd=cwd or tmp_path, env={"HOTFN_API_URL": server.url}, stdin=stdin)

    return run


def ok(result: Result) -> Result:
    assert result.code == 0, f"exit {result.code}\nstdout: {result.out}\nstderr: {result.err}"
    return result


def fn_image(server: ServerProcess, app: str, fn: str) -> str:
    with httpx.Client(base_url=server.url) as client:
        app_id = client.get("/v2/apps", params={"name": app}).json()["items"][0]["id"]
        items = client.get("/v2/fns", params={"app_id": app_id, "name": fn}).json()["items"]
    image: str = items[0]["image"]
    return image


def test_deploy_pushes_pins_the_digest_and_redeploys_under_the_same_tag(
    user: Callable[..., Result], server: ServerProcess, registry: LocalRegistry, tmp_path: Path
) -> None:
    name, app = f"{PREFIX}-py", f"{PREFIX}-app"
    ok(user("init", "--runtime", "python", name))
    fdir = tmp_path / name
    target = f"{registry.host}/team"
    first = ok(user("deploy", "--app", app, "--create-app", "--registry", target, cwd=fdir))
    image = fn_image(server, app, name)
    assert image.startswith(f"{target}/{name}:0.0.1@sha256:")
    assert f"Pushed {image}" in first.err
    assert registry.has(f"team/{name}:0.0.1")
    said = ok(user("invoke", app, name, stdin='{"name": "Ann"}'))
    assert json.loads(said.out) == {"message": "Hello Ann"}
    # New code under the same tag: a new digest, and the next call runs it.
    func = fdir / "func.py"
    func.write_text(func.read_text().replace('f"Hello {name}"', 'f"Howdy {name}"'))
    ok(user("deploy", "--app", app, "--no-bump", "--registry", target, cwd=fdir))
    again = fn_image(server, app, name)
    assert again.startswith(f"{target}/{name}:0.0.1@sha256:") and again != image
    said = ok(user("invoke", app, name, stdin='{"name": "Ann"}'))
    assert json.loads(said.out) == {"message": "Howdy Ann"}


def test_registry_from_func_yaml(
    user: Callable[..., Result], server: ServerProcess, registry: LocalRegistry, tmp_path: Path
) -> None:
    name, app = f"{PREFIX}-yaml", f"{PREFIX}-app2"
    ok(user("init", "--runtime", "python", name))
    fdir = tmp_path / name
    with (fdir / "func.yaml").open("a") as f:
        f.write(f"registry: {registry.host}/yamlteam\n")
    ok(user("deploy", "--app", app, "--create-app", cwd=fdir))
    assert fn_image(server, app, name).startswith(f"{registry.host}/yamlteam/{name}:0.0.1@")


def test_push_failure_leaves_the_fn_unchanged(
    user: Callable[..., Result], server: ServerProcess, tmp_path: Path
) -> None:
    name, app = f"{PREFIX}-down", f"{PREFIX}-app3"
    ok(user("init", "--runtime", "python", name))
    fdir = tmp_path / name
    ok(user("deploy", "--app", app, "--create-app", "--local", cwd=fdir))
    before = fn_image(server, app, name)
    nowhere = f"127.0.0.1:{free_port()}/team"
    failed = user("deploy", "--app", app, "--registry", nowhere, cwd=fdir)
    assert failed.code != 0
    assert f"pushing {nowhere}/{name}:0.0.2 failed" in failed.err
    assert "connection refused" in failed.err
    assert fn_image(server, app, name) == before


def test_deploy_without_any_registry_says_what_to_pass(
    user: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOTFN_REGISTRY", raising=False)
    monkeypatch.delenv("FN_REGISTRY", raising=False)
    name = f"{PREFIX}-noreg"
    ok(user("init", "--runtime", "python", name))
    failed = user("deploy", "--app", f"{PREFIX}-app4", "--create-app", cwd=tmp_path / name)
    assert failed.code == 2
    assert "--local" in failed.err and "--registry" in failed.err and "func.yaml" in failed.err


def test_deploy_all_pushes_each_function(
    user: Callable[..., Result], server: ServerProcess, registry: LocalRegistry, tmp_path: Path
) -> None:
    app = f"{PREFIX}-all"
    names = [f"{PREFIX}-one", f"{PREFIX}-two"]
    for name in names:
        ok(user("init", "--runtime", "python", name))
    target = f"{registry.host}/allteam"
    ok(user("deploy", "--app", app, "--create-app", "--all", "--registry", target))
    for name in names:
        assert fn_image(server, app, name).startswith(f"{target}/{name}:0.0.1@sha256:")
        assert registry.has(f"allteam/{name}:0.0.1")
        said = ok(user("invoke", app, name, stdin='{"name": "Bo"}'))
        assert json.loads(said.out) == {"message": "Hello Bo"}

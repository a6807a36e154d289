"""Registry names and credentials (hotfn.drivers.registry): Docker's own rules."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from hotfn.drivers.registry import (
    DOCKER_HUB,
    Credentials,
    RegistryAuth,
    check_auth_name,
    registry_of,
)
from hotfn.errors import ImagePullFailed, InvalidInput


@pytest.mark.parametrize(
    ("image", "registry"),
    [
        ("busybox", DOCKER_HUB),
        ("library/busybox:1", DOCKER_HUB),
        ("team/app:0.0.1", DOCKER_HUB),
        ("127.0.0.1:5000/team/app:1", "127.0.0.1:5000"),
        ("localhost/app", "localhost"),
        ("registry.example.com/app@sha256:" + "a" * 64, "registry.example.com"),
        ("hotfn/python:latest", DOCKER_HUB),
    ],
)
def test_registry_of_follows_dockers_rule(image: str, registry: str) -> None:
    assert registry_of(image) == registry


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[[object], Path]:
    def write(data: object, name: str = "config.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(data))
        return path

    return write


async def test_auths_entry_by_host_url_and_legacy_keys(
    config_file: Callable[[object], Path], tmp_path: Path
) -> None:
    path = config_file(
        {
            "auths": {
                "http://127.0.0.1:5000/v2/": {"auth": _b64("alice:s3cret:with:colons")},
                "https://index.docker.io/v1/": {"auth": _b64("hubuser:hubpass")},
                "token.example.com": {"identitytoken": "tok"},
            }
        }
    )
    creds = Credentials(path, tmp_path / "named")
    local = await creds.for_image("127.0.0.1:5000/app:1")
    assert local == RegistryAuth("127.0.0.1:5000", "alice", "s3cret:with:colons")
    hub = await creds.for_image("team/app")
    assert hub == RegistryAuth(DOCKER_HUB, "hubuser", "hubpass")
    token = await creds.for_image("token.example.com/x")
    assert token is not None and token.identitytoken == "tok" and token.password == ""
    assert await creds.for_image("other.example.com/x") is None


async def test_no_config_file_means_anonymous(tmp_path: Path) -> None:
    creds = Credentials(tmp_path / "absent.json", tmp_path / "named")
    assert await creds.for_image("127.0.0.1:5000/app") is None
    assert await Credentials(None, tmp_path).for_image("127.0.0.1:5000/app") is None


async def test_broken_config_is_a_clear_pull_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(ImagePullFailed) as caught:
        await Credentials(path, tmp_path).for_image("127.0.0.1:5000/app")
    assert str(path) in caught.value.message and "127.0.0.1:5000" in caught.value.message


def test_secrets_never_in_repr() -> None:
    auth = RegistryAuth("r.example.com", "alice", "hunter2", "tok-xyz")
    text = repr(auth) + str(auth)
    assert "alice" in text and "hunter2" not in text and "tok-xyz" not in text


def test_engine_auth_names_the_registry() -> None:
    auth = RegistryAuth("127.0.0.1:5000", "alice", "pw").engine_auth()
    assert auth == {
        "username": "alice",
        "password": "pw",
        "identitytoken": "",
        "serveraddress": "127.0.0.1:5000",
    }


async def test_named_set_wins_and_must_exist(
    config_file: Callable[..., Path], tmp_path: Path
) -> None:
    server = config_file({"auths": {"127.0.0.1:5000": {"auth": _b64("server:pw")}}})
    named = tmp_path / "named"
    named.mkdir()
    (named / "team-a.json").write_text(
        json.dumps({"auths": {"127.0.0.1:5000": {"auth": _b64("team-a:pw-a")}}})
    )
    creds = Credentials(server, named)
    found = await creds.for_image("127.0.0.1:5000/app", "team-a")
    assert found is not None and found.username == "team-a"
    assert (await creds.for_image("127.0.0.1:5000/app")) == RegistryAuth(
        "127.0.0.1:5000", "server", "pw"
    )
    with pytest.raises(ImagePullFailed) as missing:
        await creds.for_image("127.0.0.1:5000/app", "team-b")
    assert "team-b" in missing.value.message and "hotfn.io/registry-auth" in missing.value.message
    with pytest.raises(ImagePullFailed) as no_entry:
        await creds.for_image("other.example.com/app", "team-a")
    assert "has no entry" in no_entry.value.message


@pytest.mark.parametrize("name", ["", "../etc", "a/b", "-x", "x" * 65, "sp ace"])
def test_auth_names_that_could_escape_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_auth_name(name)
    assert "hotfn.io/registry-auth" in caught.value.message


def test_auth_name_rule_accepts_plain_names() -> None:
    assert check_auth_name("team-a.prod_1") == "team-a.prod_1"


def _helper(tmp_path: Path, name: str, script: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


@pytest.fixture
def helper_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


async def test_cred_helpers_per_registry_and_store(
    config_file: Callable[..., Path], helper_path: Path
) -> None:
    # The helper gets the server on stdin and answers {Username, Secret}.
    _helper(
        helper_path,
        "fake",
        'read server; printf \'{"Username":"u-%s","Secret":"s"}\' "$server"\n',
    )
    _helper(helper_path, "tok", 'printf \'{"Username":"<token>","Secret":"id-tok"}\'\n')
    path = config_file({"credHelpers": {"127.0.0.1:5000": "fake"}, "credsStore": "tok"})
    creds = Credentials(path, helper_path / "named")
    assert await creds.for_image("127.0.0.1:5000/app") == RegistryAuth(
        "127.0.0.1:5000", "u-127.0.0.1:5000", "s"
    )
    token = await creds.for_image("other.example.com/app")
    assert token is not None and token.identitytoken == "id-tok" and token.username == ""


async def test_failing_helper_is_a_clear_error(
    config_file: Callable[..., Path], helper_path: Path
) -> None:
    _helper(helper_path, "broken", "echo 'credentials not found in native keychain'; exit 1\n")
    path = config_file({"credHelpers": {"127.0.0.1:5000": "broken"}})
    with pytest.raises(ImagePullFailed) as caught:
        await Credentials(path, helper_path).for_image("127.0.0.1:5000/app")
    assert "docker-credential-broken" in caught.value.message
    assert "not found in native keychain" in caught.value.message
    path = config_file({"credHelpers": {"127.0.0.1:5000": "absent"}})
    with pytest.raises(ImagePullFailed) as absent:
        await Credentials(path, helper_path).for_image("127.0.0.1:5000/app")
    assert "docker-credential-absent cannot run" in absent.value.message

"""DockerDriver.pull and remove_image against the real engine and a real registry
on loopback (tests/registry_support.py), with and without basic auth."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest

from hotfn.drivers.docker import DockerDriver
from hotfn.drivers.registry import RegistryAuth
from hotfn.errors import ImagePullFailed
from tests.docker_support import build_image, docker, ensure_images
from tests.registry_support import LocalRegistry, local_registry
from tests.server_support import free_port

pytestmark = pytest.mark.docker
TINY = "hotfn-test/tiny:1"


@pytest.fixture(scope="module")
def tiny() -> str:
    ensure_images()
    return build_image(TINY, "FROM scratch\nCOPY hello /hello\n", {"hello": b"hello\n"})


@pytest.fixture(scope="module")
def open_registry() -> Iterator[LocalRegistry]:
    with local_registry() as reg:
        yield reg


@pytest.fixture(scope="module")
def locked_registry() -> Iterator[LocalRegistry]:
    with local_registry("alice", "correct-horse") as reg:
        yield reg


@pytest.fixture
async def driver() -> AsyncIterator[DockerDriver]:
    drv = DockerDriver()
    yield drv
    await drv.close()


def fresh_name() -> str:
    return f"hotfn-test/pull-{secrets.token_hex(3)}:1"


async def test_pull_brings_back_a_removed_image(
    driver: DockerDriver, tiny: str, open_registry: LocalRegistry
) -> None:
    ref = open_registry.push(tiny, fresh_name())
    open_registry.forget(ref)
    assert not await driver.image_exists(ref)
    await driver.pull(ref)
    assert await driver.image_exists(ref)
    assert await driver.remove_image(ref) is True
    assert await driver.remove_image(ref) is False  # already gone: not an error
    assert not await driver.image_exists(ref)


async def test_missing_tag_carries_the_registrys_reason(
    driver: DockerDriver, open_registry: LocalRegistry
) -> None:
    ref = open_registry.ref("hotfn-test/never-pushed:1")
    with pytest.raises(ImagePullFailed) as caught:
        await driver.pull(ref)
    assert caught.value.reason == "not_found"
    assert ref in caught.value.message
    assert "unknown" in caught.value.message or "not found" in caught.value.message


async def test_unreachable_registry_is_named(driver: DockerDriver) -> None:
    ref = f"127.0.0.1:{free_port()}/hotfn-test/x:1"
    with pytest.raises(ImagePullFailed) as caught:
        await driver.pull(ref)
    assert caught.value.reason == "unreachable"
    assert "connection refused" in caught.value.message


async def test_basic_auth_right_wrong_and_none(
    driver: DockerDriver, tiny: str, locked_registry: LocalRegistry
) -> None:
    ref = locked_registry.push(tiny, fresh_name())
    locked_registry.forget(ref)
    host = locked_registry.host
    with pytest.raises(ImagePullFailed) as anonymous:
        await driver.pull(ref)
    assert anonymous.value.reason == "unauthorized"
    with pytest.raises(ImagePullFailed) as wrong:
        await driver.pull(ref, RegistryAuth(host, "alice", "wrong-secret"))
    assert wrong.value.reason == "unauthorized"
    assert "wrong-secret" not in wrong.value.message
    await driver.pull(ref, RegistryAuth(host, "alice", "correct-horse"))
    assert await driver.image_exists(ref)
    docker("rmi", ref)


async def test_image_in_use_is_not_removed(
    driver: DockerDriver, tiny: str, open_registry: LocalRegistry
) -> None:
    # An image whose only tag is ref (removing one of several tags only untags).
    solo = build_image(
        fresh_name(), "FROM scratch\nCOPY hello /hello\n", {"hello": secrets.token_bytes(8)}
    )
    ref = open_registry.push(solo, fresh_name())
    docker("rmi", solo)
    cid = docker("create", "--label", "io.hotfn.test=pull", ref, "/hello").strip()
    try:
        assert await driver.remove_image(ref) is False
        assert await driver.image_exists(ref)
    finally:
        docker("rm", "-f", cid)

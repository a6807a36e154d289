"""PullingDriver on the fake engine: a start that finds its image missing pulls it
once and starts again; images from registries not allowed stay missing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hotfn.agent.images import ImagePuller
from hotfn.agent.pulling import PullingDriver
from hotfn.drivers.base import ContainerSpec
from hotfn.drivers.fake import FakeDriver, FakeImage
from hotfn.drivers.registry import Credentials
from hotfn.errors import ImageNotFound, ImagePullFailed

IMAGE = "127.0.0.1:5000/team/app:1"

Make = Callable[..., tuple[PullingDriver, FakeDriver]]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    made: list[PullingDriver] = []

    def build(pull_from: tuple[str, ...] = ("*",)) -> tuple[PullingDriver, FakeDriver]:
        fake = FakeDriver()
        fake.registry[IMAGE] = FakeImage()
        puller = ImagePuller(fake, Credentials(None, tmp_path), pull_from=pull_from)
        driver = PullingDriver(fake, puller)
        made.append(driver)
        return driver, fake

    yield build
    for driver in made:
        await driver.close()


def spec(image: str = IMAGE, name: str = "c1") -> ContainerSpec:
    return ContainerSpec(name=name, image=image)


async def test_a_start_pulls_the_missing_image_then_starts(make: Make) -> None:
    driver, fake = make()
    cid = await driver.start(spec())
    assert [image for image, _ in fake.pulls] == [IMAGE]
    assert fake.containers[cid].spec.image == IMAGE
    assert driver.in_use() == {IMAGE}
    assert driver.pulled_ms[cid] >= 0
    await driver.remove(cid)
    assert driver.in_use() == set() and cid not in driver.pulled_ms


async def test_a_present_image_is_never_pulled(make: Make) -> None:
    driver, fake = make()
    cid = await driver.start(spec("fake/echo"))
    assert fake.pulls == [] and cid not in driver.pulled_ms


async def test_concurrent_starts_share_one_pull(make: Make) -> None:
    driver, fake = make()
    fake.pull_gate = asyncio.Event()
    starts = [asyncio.create_task(driver.start(spec(name=f"c{i}"))) for i in range(5)]
    await asyncio.sleep(0.01)
    fake.pull_gate.set()
    ids = await asyncio.gather(*starts)
    assert len(set(ids)) == 5 and len(fake.pulls) == 1


async def test_a_failed_pull_fails_the_start_with_its_reason(make: Make) -> None:
    driver, fake = make()
    fake.pull_error = ImagePullFailed("manifest unknown", reason="not_found")
    with pytest.raises(ImagePullFailed, match="manifest unknown"):
        await driver.start(spec())
    assert driver.in_use() == set()


async def test_images_from_registries_not_allowed_stay_missing(make: Make) -> None:
    driver, fake = make(pull_from=("127.0.0.1:*",))
    fake.registry["team/app:1"] = FakeImage()  # Docker Hub's: not allowed
    with pytest.raises(ImageNotFound):
        await driver.start(spec("team/app:1"))
    with pytest.raises(ImageNotFound):
        await driver.run_default_format(spec("team/app:1"), b"x", 5.0)
    assert fake.pulls == []
    await driver.start(spec())  # loopback: allowed
    assert len(fake.pulls) == 1


async def test_a_per_call_run_counts_the_pull_in_its_start(make: Make) -> None:
    driver, fake = make()
    fake.pull_gate = asyncio.Event()
    asyncio.get_running_loop().call_later(0.2, fake.pull_gate.set)
    result = await driver.run_default_format(spec(), b"you", 5.0)
    assert result.stdout == b"Hello you from Fake!\n"
    assert result.start_ms >= 200 and result.pulled_ms >= 200
    present = await driver.run_default_format(spec(), b"again", 5.0)
    assert present.pulled_ms == 0
    assert len(fake.pulls) == 1

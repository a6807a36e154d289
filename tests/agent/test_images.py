"""ImagePuller on the fake engine: one pull per image, bounded, failures cached."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from hotfn.agent.images import PULL_FAILURES, ImagePuller
from hotfn.drivers.fake import FakeDriver, FakeImage
from hotfn.drivers.registry import Credentials
from hotfn.errors import ImagePullFailed
from tests.waiting import until

IMAGE = "127.0.0.1:5000/team/app:1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_puller(tmp_path: Path) -> Callable[..., tuple[ImagePuller, FakeDriver, Clock]]:
    def make(**kwargs: float) -> tuple[ImagePuller, FakeDriver, Clock]:
        driver = FakeDriver()
        driver.registry[IMAGE] = FakeImage()
        clock = Clock()
        creds = Credentials(None, tmp_path / "named")
        return ImagePuller(driver, creds, clock=clock, **kwargs), driver, clock

    return make


async def test_present_image_is_not_pulled(make_puller: Callable[..., tuple]) -> None:
    puller, driver, _ = make_puller()
    assert await puller.ensure("fake/echo") == 0.0
    assert driver.pulls == []


async def test_missing_image_is_pulled_once_for_many_waiters(
    make_puller: Callable[..., tuple],
) -> None:
    puller, driver, _ = make_puller()
    driver.pull_gate = asyncio.Event()
    waiters = [asyncio.create_task(puller.ensure(IMAGE)) for _ in range(20)]
    await until(lambda: len(driver.pulls) == 1)
    driver.pull_gate.set()
    waited = await asyncio.gather(*waiters)
    assert len(driver.pulls) == 1 and all(w >= 0 for w in waited)
    assert IMAGE in driver.images
    assert await puller.ensure(IMAGE) == 0.0 and len(driver.pulls) == 1


async def test_a_cancelled_waiter_does_not_cancel_the_pull(
    make_puller: Callable[..., tuple],
) -> None:
    puller, driver, _ = make_puller()
    driver.pull_gate = asyncio.Event()
    first = asyncio.create_task(puller.pull(IMAGE))
    second = asyncio.create_task(puller.pull(IMAGE))
    await until(lambda: len(driver.pulls) == 1)
    first.cancel()
    driver.pull_gate.set()
    await second
    assert first.cancelled() and IMAGE in driver.images


async def test_failure_is_fast_and_cached_then_retried(
    make_puller: Callable[..., tuple],
) -> None:
    puller, driver, clock = make_puller(retry_after=10)
    before = PULL_FAILURES.labels("not_found")._value.get()
    with pytest.raises(ImagePullFailed) as first:
        await puller.pull("127.0.0.1:5000/team/missing:1")
    assert "manifest unknown" in first.value.message and first.value.reason == "not_found"
    assert PULL_FAILURES.labels("not_found")._value.get() == before + 1
    # Within the window: the same reason at once, no new pull.
    with pytest.raises(ImagePullFailed) as again:
        await puller.pull("127.0.0.1:5000/team/missing:1")
    assert "manifest unknown" in again.value.message
    assert "not retried for another 10 s" in again.value.message
    assert len(driver.pulls) == 1
    # After it: pulled again (and now it exists).
    driver.registry["127.0.0.1:5000/team/missing:1"] = FakeImage()
    clock.now += 11
    await puller.pull("127.0.0.1:5000/team/missing:1")
    assert len(driver.pulls) == 2


async def test_pull_timeout_names_the_setting(make_puller: Callable[..., tuple]) -> None:
    puller, driver, _ = make_puller(timeout=0.05)
    driver.pull_gate = asyncio.Event()  # never set: the registry never delivers
    with pytest.raises(ImagePullFailed) as caught:
        await puller.pull(IMAGE)
    assert caught.value.reason == "timeout"
    assert "within 0.05 s" in caught.value.message and "HOTFN_PULL_TIMEOUT" in caught.value.message
    assert "127.0.0.1:5000" in caught.value.message


async def test_credential_set_is_looked_up_and_sent(
    make_puller: Callable[..., tuple], tmp_path: Path
) -> None:
    puller, driver, _ = make_puller()
    (tmp_path / "named").mkdir()
    (tmp_path / "named" / "team.json").write_text(
        '{"auths": {"127.0.0.1:5000": {"username": "bob", "password": "pw"}}}'
    )
    await puller.pull(IMAGE, "team")
    ((image, auth),) = driver.pulls
    assert image == IMAGE and auth is not None and (auth.username, auth.password) == ("bob", "pw")


async def test_prefetch_pulls_in_background_and_swallows_failures(
    make_puller: Callable[..., tuple],
) -> None:
    puller, driver, _ = make_puller()
    puller.prefetch(IMAGE)
    puller.prefetch("127.0.0.1:5000/nope:1")
    await until(lambda: IMAGE in driver.images and len(driver.pulls) == 2)
    await puller.close()


async def test_close_cancels_a_hanging_prefetch(make_puller: Callable[..., tuple]) -> None:
    puller, driver, _ = make_puller()
    driver.pull_gate = asyncio.Event()
    puller.prefetch(IMAGE)
    await until(lambda: len(driver.pulls) == 1)
    await puller.close()
    assert IMAGE not in driver.images


async def test_collect_removes_only_pulled_unused_images(
    make_puller: Callable[..., tuple],
) -> None:
    puller, driver, clock = make_puller(gc_after=60)
    other = "127.0.0.1:5000/team/other:1"
    driver.registry[other] = FakeImage()
    await puller.pull(IMAGE)
    await puller.pull(other)
    clock.now += 30
    puller.used(other)
    clock.now += 40  # IMAGE unused for 70 s, other for 40 s
    assert await puller.collect(in_use=[]) == [IMAGE]
    assert IMAGE not in driver.images and other in driver.images
    assert "fake/echo" in driver.images  # never pulled here: never removed
    clock.now += 100
    assert await puller.collect(in_use=[other]) == []  # a fn still uses it
    assert other in driver.images


async def test_collect_is_off_by_default(make_puller: Callable[..., tuple]) -> None:
    puller, driver, clock = make_puller()
    await puller.pull(IMAGE)
    clock.now += 10**6
    assert await puller.collect(in_use=[]) == []
    assert IMAGE in driver.images

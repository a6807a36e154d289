"""Factories for agent unit tests on the fake driver."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hotfn.agent.agent import Agent
from hotfn.agent.call_log import new_call_id
from hotfn.agent.httpstream import CallRequest, CallResult
from hotfn.config import Settings
from hotfn.drivers.fake import FakeDriver, FakeImage
from hotfn.store.call_records import CallStore
from hotfn.store.db import Database
from hotfn.types import App, Fn, Target
from tests.server_support import sqlite_database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await sqlite_database(tmp_path / "calls.db")
    yield database
    await database.close()


MakeTarget = Callable[..., Target]


@pytest.fixture
def make_target() -> MakeTarget:
    def make(
        image: str = "fake/echo",
        annotations: dict[str, Any] | None = None,
        app_config: dict[str, str] | None = None,
        fn_id: str | None = None,
        **fn_fields: Any,
    ) -> Target:
        app = App(id="A" * 26, name="app", config=app_config or {})
        fn = Fn(
            id=fn_id or new_call_id(),
            name="fn" + secrets.token_hex(2),
            app_id=app.id,
            image=image,
            annotations=annotations or {},
            **fn_fields,
        )
        return Target(app=app, fn=fn)

    return make


def request(body: bytes | str = b"hi", trigger: bool = False, **kw: Any) -> CallRequest:
    data = body.encode() if isinstance(body, str) else body
    headers = kw.pop("headers", [("content-type", "text/plain")])
    return CallRequest(
        call_id=new_call_id(),
        method=kw.pop("method", "POST"),
        url=kw.pop("url", "http://127.0.0.1/invoke/x"),
        headers=headers,
        body=data,
        trigger=trigger,
    )


@pytest.fixture
async def make_agent(
    tmp_path: Path, db: Database
) -> AsyncIterator[Callable[..., Awaitable[Agent]]]:
    """Started agents on a fake driver; shut down (and checked clean) at the end."""
    made: list[tuple[Agent, FakeDriver, CallStore]] = []

    async def make(
        images: dict[str, FakeImage] | None = None,
        driver: FakeDriver | None = None,
        tick_s: float = 0.05,
        **settings: Any,
    ) -> Agent:
        keepalive = settings.pop("keepalive", None)
        drv = driver or FakeDriver(images or {"fake/echo": FakeImage()})
        settings.setdefault("instance", "t" + secrets.token_hex(3))
        settings.setdefault("max_queue_wait", 5.0)
        s = Settings(data_dir=tmp_path, iofs_dir=tmp_path / "iofs", **settings)
        store = CallStore(db, s, flush_interval=0.05, grace_s=0.05)
        agent = Agent(drv, s, store, keepalive=keepalive, tick_s=tick_s)
        made.append((agent, drv, store))
        await agent.start()
        return agent

    yield make
    for agent, drv, store in made:
        await agent.shutdown()
        await store.close()
        assert not drv.running(), "containers left running after shutdown"
        await drv.close()


def fake(agent: Agent) -> FakeDriver:
    drv = agent.driver
    assert isinstance(drv, FakeDriver)
    return drv


# -- real engine (tests marked ``docker``) -------------------------------------------


@pytest.fixture(scope="session")
def docker_label() -> Iterator[str]:
    """This session's test label value; everything carrying it is removed at the end."""
    from tests.agent.docker_images import TEST_LABEL, containers_with, remove_containers_with

    value = "s" + secrets.token_hex(4)
    yield value
    left = containers_with(f"{TEST_LABEL}={value}")
    remove_containers_with(f"{TEST_LABEL}={value}")
    assert not left, f"containers left behind by the tests: {left}"


@pytest.fixture
async def make_docker_agent(
    tmp_path: Path, db: Database, docker_label: str
) -> AsyncIterator[Callable[..., Awaitable[Agent]]]:
    """Started agents on the real engine (network ``none``, test-labelled containers);
    each is shut down at the end and must leave no container behind."""
    from hotfn.drivers.docker import DockerDriver
    from tests.agent.docker_images import TEST_LABEL, containers_with

    made: list[tuple[Agent, CallStore]] = []
    driver = DockerDriver()

    async def make(**settings: Any) -> Agent:
        settings.setdefault("instance", "t" + secrets.token_hex(3))
        settings.setdefault("max_queue_wait", 30.0)
        settings.setdefault("network_mode", "none")
        labels = {TEST_LABEL: docker_label, **settings.pop("container_labels", {})}
        s = Settings(
            data_dir=tmp_path, iofs_dir=tmp_path / "iofs", container_labels=labels, **settings
        )
        store = CallStore(db, s, flush_interval=0.05, grace_s=0.2)
        agent = Agent(driver, s, store)
        made.append((agent, store))
        await agent.start()
        return agent

    yield make
    try:
        for agent, store in made:
            await agent.shutdown()
            await store.close()
            left = containers_with(f"io.hotfn.instance={agent.settings.instance}")
            assert not left, f"agent left containers: {left}"
    finally:
        await driver.close()


async def body_of(result: CallResult) -> bytes:
    """The whole body of a call's answer, streamed or not (a stream is closed)."""
    if result.stream is None:
        return result.body
    parts = []
    while (data := await result.stream.read()) is not None:
        parts.append(data)
    result.stream.close()
    return b"".join(parts)

"""Cold-start paths on the fake driver: warm generic containers (specialisation),
provisioned containers, pre-warming by the adaptive keep-alive policy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from hotfn.agent.agent import Agent
from hotfn.agent.histogram import HybridPolicy
from hotfn.agent.keepalive import AdaptiveKeepAlive
from hotfn.agent.specialise import _copy_destination, fdk_argv, only_code_added
from hotfn.drivers.base import LABEL_INSTANCE, HistoryEntry
from hotfn.drivers.fake import FakeImage
from hotfn.types import CallRecord, Target
from tests.agent.conftest import MakeTarget, fake, request
from tests.waiting import until

MakeAgent = Callable[..., Awaitable[Agent]]

RUNTIME_LABELS = {"io.hotfn.runtime": "python"}
BASE_STEPS = (
    HistoryEntry("/bin/sh -c #(nop) ADD file:x in / ", False),
    HistoryEntry("/bin/sh -c #(nop) WORKDIR /function", True),
)
COPY_CODE = HistoryEntry("/bin/sh -c #(nop) COPY file:abc in /function/ ", False)


def runtime_image() -> FakeImage:
    return FakeImage(labels=RUNTIME_LABELS, layers=("l1", "l2"), workdir="/function",
                     history=BASE_STEPS)  # fmt: skip


def fn_image(
    steps: tuple[HistoryEntry, ...] = (COPY_CODE,),
    files: dict[str, bytes] | None = None,
    entrypoint: tuple[str, ...] = ("fdk", "/function/func.py", "handler"),
) -> FakeImage:
    return FakeImage(
        labels=RUNTIME_LABELS,
        layers=("l1", "l2", "l3"),
        workdir="/function",
        entrypoint=entrypoint,
        env=("PATH=/usr/bin", "FROM_IMAGE=yes"),
        history=BASE_STEPS + steps,
        files={"func.py": b"def handler(ctx, data): return data\n"} if files is None else files,
    )


IMAGES = {
    "fake/echo": FakeImage(),
    "hotfn/python:latest": runtime_image(),
    "fn/py": fn_image(),
    "fn/py2": fn_image(),
    "fn/pip": fn_image(steps=(COPY_CODE, HistoryEntry("/bin/sh -c pip install x", False))),
    "fn/broken": fn_image(files={"other.py": b""}),
}


async def generic_agent(make_agent: MakeAgent, size: int = 2, **kw: Any) -> Agent:
    agent = await make_agent(images=IMAGES, generic_pool_size=size, **kw)
    assert agent.generic is not None
    pools = agent.generic
    await until(lambda: len(pools.idle.get("python", [])) == size)
    return agent


async def call(agent: Agent, target: Target, body: str = "hi") -> tuple[Any, CallRecord]:
    req = request(body)
    record = CallRecord(req.call_id, target.fn.id, target.app.id, "queued", _now())
    result = await agent.call(target, req, record)
    return result, record


def _now() -> Any:
    from hotfn.agent.call_log import utcnow

    return utcnow()


# -- image analysis -----------------------------------------------------------------


def test_fdk_argv_forms() -> None:
    assert fdk_argv(("fdk", "/function/func.py", "handler")) == ("/function/func.py", "handler")
    assert fdk_argv(("/python/bin/fdk", "func.py:handler")) == ("func.py:handler",)
    assert fdk_argv(("python3", "-m", "hotfn.fdk", "/function/f.py:h")) == ("/function/f.py:h",)
    assert fdk_argv(("/hotwrap", "node", "func.js")) is None
    assert fdk_argv(("fdk", "/srv/func.py", "handler")) is None  # code outside /function
    assert fdk_argv(("fdk",)) is None


def test_only_code_added() -> None:
    assert _copy_destination("COPY func.py /function/ # buildkit", "/") == "/function"
    assert _copy_destination("/bin/sh -c #(nop) COPY file:a in ./x.py ", "/function") == (
        "/function/x.py"
    )
    assert only_code_added([COPY_CODE], "/function")
    relative = HistoryEntry("/bin/sh -c #(nop) COPY file:a in . ", False)
    assert only_code_added([relative], "/function")
    assert not only_code_added([HistoryEntry("/bin/sh -c pip install x", False)], "/function")
    elsewhere = HistoryEntry("/bin/sh -c #(nop) COPY file:a in /usr/lib/x ", False)
    assert not only_code_added([elsewhere], "/function")


# -- warm generic containers -----------------------------------------------------------


async def test_first_call_specialises_a_generic_container(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await generic_agent(make_agent)
    drv = fake(agent)
    generic_ids = set(drv.containers)
    target = make_target(image="fn/py", memory=256, config={"GREETING": "hello"})
    result, record = await call(agent, target, "env")
    env = json.loads(result.body)
    assert env["GREETING"] == "hello" and env["FROM_IMAGE"] == "yes"
    assert env["FN_FN_ID"] == target.fn.id and env["FN_MEMORY"] == "256"
    assert record.start_path == "specialised" and record.container_id in generic_ids
    cid = record.container_id
    assert drv.containers[cid].specialised is not None
    assert drv.containers[cid].specialised["argv"] == ["/function/func.py", "handler"]
    assert (cid, 256) in drv.updates and drv.containers[cid].memory_mb == 256
    _, again = await call(agent, target)
    assert again.container_id == cid and again.start_path == "hot"
    pools = agent.generic
    assert pools is not None
    await until(lambda: len(pools.idle["python"]) == 2)  # refilled in the background
    assert cid not in {g.id for g in pools.idle["python"]}
    assert drv.exports == 1  # code copied out of the image once
    # ... by a container of this instance: a restart's sweep finds it if we die.
    assert drv.export_labels[LABEL_INSTANCE] == agent.settings.instance


async def test_generic_container_never_given_to_a_second_fn(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await generic_agent(make_agent, size=1)
    first, second = make_target(image="fn/py"), make_target(image="fn/py2")
    _, r1 = await call(agent, first)
    pools = agent.generic
    assert pools is not None
    await until(lambda: len(pools.idle["python"]) == 1)
    _, r2 = await call(agent, second)
    assert r1.start_path == r2.start_path == "specialised"
    assert r1.container_id != r2.container_id
    for _ in range(3):
        assert (await call(agent, first))[1].container_id == r1.container_id
        assert (await call(agent, second))[1].container_id == r2.container_id


async def test_images_that_add_more_than_code_start_normally(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await generic_agent(make_agent)
    _, record = await call(agent, make_target(image="fn/pip"))
    _, plain = await call(agent, make_target(image="fake/echo"))
    opted_out = make_target(image="fn/py", annotations={"hotfn.io/generic": False})
    _, opted = await call(agent, opted_out)
    assert record.start_path == plain.start_path == opted.start_path == "image"
    assert agent.generic is not None and agent.generic.taken == 0


async def test_loader_failure_falls_back_to_the_image(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await generic_agent(make_agent)
    target = make_target(image="fn/broken")
    result, record = await call(agent, target)
    assert result.status == 200 and record.start_path == "image"
    agent.provisioner.fn_changed(target.fn.id)
    _, again = await call(agent, target)  # rejected for good: no second try
    assert again.start_path == "image"
    assert agent.generic is not None and agent.generic.taken == 1


async def test_generic_pool_only_takes_free_memory(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await generic_agent(make_agent, size=2, memory_budget_mb=300)
    assert agent.budget.used_mb == 256
    # A fn needing more than is free evicts the generic containers first, and the
    # pool does not refill into memory that is not free.
    _, record = await call(agent, make_target(image="fake/echo", memory=200))
    assert record.status == "success"
    pools = agent.generic
    assert pools is not None
    await asyncio.sleep(0.2)
    assert len(pools.idle["python"]) == 0 and agent.budget.used_mb == 200


# -- provisioned --------------------------------------------------------------------


async def test_provisioned_containers_start_and_are_replaced(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    drv = fake(agent)
    target = make_target(annotations={"hotfn.io/provisioned": 2}, idle_timeout=1)
    pool = await agent.provisioner.provision(target)
    assert pool is not None
    await until(lambda: pool.fleet.counts()["idle"] == 2)
    victim = next(iter(pool.containers))
    await drv.kill(victim.id)
    await until(lambda: pool.fleet.counts()["idle"] == 2 and victim not in pool.containers)
    _, record = await call(agent, target)
    assert record.start_path == "provisioned"
    await asyncio.sleep(1.3)  # past idle_timeout: provisioned ones stay
    assert pool.fleet.counts()["idle"] == 2


async def test_fn_change_provisions_through_the_cache(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target(annotations={"hotfn.io/provisioned": 1})

    class Cache:
        def __init__(self) -> None:
            self.listeners: list[Callable[[str], None]] = []

        async def target(self, fn_id: str) -> Target:
            return target

        def add_listener(self, cb: Callable[[str], None]) -> None:
            self.listeners.append(cb)

    cache = Cache()
    agent.provisioner.attach(cache)  # type: ignore[arg-type]  # duck-typed ConfigCache
    cache.listeners[0](target.fn.id)
    await until(lambda: sum(p.fleet.counts()["idle"] for p in agent.pools()) == 1)


async def test_prewarm_waits_until_ready(make_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_agent(images={"fake/slow": FakeImage(start_delay=0.2)})
    target = make_target(image="fake/slow")
    assert await agent.provisioner.prewarm(target) == 1
    _, record = await call(agent, target)
    assert record.start_path == "prewarmed"


# -- adaptive keep-alive in the agent ----------------------------------------------


async def test_adaptive_policy_lets_go_and_prewarms(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    policy = HybridPolicy(min_prewarm_s=0.2, floor_s=0.1)
    agent = await make_agent(tick_s=0.02, keepalive=AdaptiveKeepAlive(policy))
    target = make_target()
    for _ in range(20):  # a regular fn: called every ~1 s
        policy.observe_idle(target.fn.id, 1.0)
    w = policy.windows(target.fn.id, 30)
    assert w.mode == "adaptive" and 0.5 < w.prewarm_s < 1.0 < w.keepalive_s < 3
    await call(agent, target)
    pool = agent.pools()[0]
    await until(lambda: not pool.containers, within_s=1)  # let go right after the call
    await until(lambda: pool.fleet.counts()["idle"] == 1, within_s=2)  # pre-warmed before 1 s
    _, record = await call(agent, target)
    assert record.start_path == "prewarmed"

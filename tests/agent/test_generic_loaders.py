"""Warm generic containers of more than one runtime (Python and Node) on the fake
driver: each runtime's loader command, the argv a node image's command gives, and
the pools' bounds (size per runtime, memory shared)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from hotfn.agent.agent import Agent
from hotfn.agent.call_log import utcnow
from hotfn.agent.generic_loaders import LOADERS, NODE_LOADER, node_argv
from hotfn.drivers.base import HistoryEntry
from hotfn.drivers.fake import FakeImage
from hotfn.types import CallRecord, Target
from tests.agent.conftest import MakeTarget, fake, request
from tests.waiting import until

MakeAgent = Callable[..., Awaitable[Agent]]

BASE_STEPS = (
    HistoryEntry("/bin/sh -c #(nop) ADD file:x in / ", False),
    HistoryEntry("/bin/sh -c #(nop) WORKDIR /function", True),
)
COPY_CODE = HistoryEntry("/bin/sh -c #(nop) COPY file:abc in /function/ ", False)


def runtime(name: str, layer: str) -> FakeImage:
    return FakeImage(labels={"io.hotfn.runtime": name}, layers=(layer,), workdir="/function",
                     history=BASE_STEPS)  # fmt: skip


def node_fn(entrypoint: tuple[str, ...] = ("node", "func.js")) -> FakeImage:
    """As `hotfn init --runtime node` builds it: func.js on Fn's FDK, FROM hotfn/node."""
    return FakeImage(
        labels={"io.hotfn.runtime": "node"},
        layers=("node", "code"),
        workdir="/function",
        entrypoint=entrypoint,
        env=("NODE_PATH=/opt/hotfn/node/node_modules",),
        history=(*BASE_STEPS, COPY_CODE),
        files={"func.js": b"require('@fnproject/fdk').handle((input) => input)\n"},
    )


IMAGES = {
    "hotfn/python:latest": runtime("python", "py"),
    "hotfn/node:latest": runtime("node", "node"),
    "fn/node": node_fn(),
    "fn/node-opts": node_fn(("node", "--require", "./x.js", "func.js")),
}
BOTH = {"python": "hotfn/python:latest", "node": "hotfn/node:latest"}


async def both_runtimes(make_agent: MakeAgent, size: int = 1, **kw: Any) -> Agent:
    agent = await make_agent(images=IMAGES, generic_pool_size=size, generic_images=BOTH, **kw)
    return agent


async def call(agent: Agent, target: Target) -> CallRecord:
    req = request("hi")
    record = CallRecord(req.call_id, target.fn.id, target.app.id, "queued", utcnow())
    result = await agent.call(target, req, record)
    assert result.status == 200
    return record


def test_node_argv_forms() -> None:
    assert node_argv(("node", "func.js")) == ("/function/func.js",)
    assert node_argv(("node", "./func.js", "--port", "1")) == ("/function/func.js", "--port", "1")
    assert node_argv(("/usr/bin/node", "/function/lib/main.js")) == ("/function/lib/main.js",)
    assert node_argv(("node func.js",)) == ("/function/func.js",)  # shell form
    assert node_argv(("node", "--require", "x", "func.js")) is None  # options: start normally
    assert node_argv(("node", "/srv/func.js")) is None  # code outside /function
    assert node_argv(("node", "../etc/x.js")) is None
    assert node_argv(("/hotwrap", "node", "func.js")) is None
    assert node_argv(("node",)) is None


def test_each_runtime_has_its_loader() -> None:
    assert LOADERS["python"].command == ("fdk", "--generic", "/tmp/iofs")
    assert LOADERS["node"].command == ("node", NODE_LOADER, "--generic", "/tmp/iofs")


async def test_a_node_fn_specialises_a_generic_node_container(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await both_runtimes(make_agent)
    pools = agent.generic
    assert pools is not None
    await until(lambda: len(pools.idle.get("node", [])) == 1 and len(pools.idle["python"]) == 1)
    drv = fake(agent)
    node_ids = {g.id for g in pools.idle["node"]}
    assert [drv.containers[i].spec.entrypoint for i in node_ids] == [list(LOADERS["node"].command)]
    target = make_target(image="fn/node", memory=256)
    record = await call(agent, target)
    assert record.start_path == "specialised" and record.container_id in node_ids
    cid = record.container_id
    assert drv.containers[cid].specialised is not None
    assert drv.containers[cid].specialised["argv"] == ["/function/func.js"]
    assert drv.containers[cid].specialised["env"]["NODE_PATH"] == "/opt/hotfn/node/node_modules"
    assert (cid, 256) in drv.updates
    assert len(pools.idle["python"]) == 1  # a python container is no use to it
    other = await call(agent, make_target(image="fn/node", memory=256))
    assert other.container_id != cid  # never given to a second fn
    assert (await call(agent, target)).container_id == cid


async def test_node_options_start_from_the_image(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await both_runtimes(make_agent)
    pools = agent.generic
    assert pools is not None
    await until(lambda: len(pools.idle.get("node", [])) == 1)
    record = await call(agent, make_target(image="fn/node-opts"))
    assert record.start_path == "image" and pools.taken == 0


async def test_pools_are_bounded_per_runtime_and_by_free_memory(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await both_runtimes(make_agent, size=2)
    pools = agent.generic
    assert pools is not None
    await until(lambda: len(pools.idle.get("node", [])) == 2 and len(pools.idle["python"]) == 2)
    assert agent.budget.used_mb == 4 * 128
    small = await both_runtimes(make_agent, size=2, memory_budget_mb=300)
    assert small.generic is not None
    generic = small.generic
    await until(lambda: sum(len(v) for v in generic.idle.values()) == 2)
    assert small.budget.used_mb == 256  # the third would not fit: no eviction to fill

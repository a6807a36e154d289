"""Hot functions on the real Docker Engine (images built from the local base image)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import pytest

from hotfn.agent.agent import Agent
from hotfn.errors import (
    ContainerInitFailed,
    FunctionFailed,
    FunctionTimeout,
    ImageNotFound,
    InvalidFunctionResponse,
    OutOfMemory,
)
from tests.agent import docker_images as images
from tests.agent.conftest import MakeTarget, request
from tests.agent.docker_images import containers_with, docker

pytestmark = pytest.mark.docker

MakeAgent = Callable[..., Awaitable[Agent]]


@pytest.fixture(scope="module")
def pyhot() -> str:
    return images.pyhot()


def running_of(agent: Agent) -> list[str]:
    return docker(
        "ps", "-q", "--filter", f"label=io.hotfn.instance={agent.settings.instance}"
    ).split()


async def test_hundred_sequential_calls_one_container(
    make_docker_agent: MakeAgent, make_target: MakeTarget, pyhot: str
) -> None:
    agent = await make_docker_agent()
    target = make_target(image=pyhot)
    hosts = set()
    for i in range(100):
        result = await agent.call(target, request(f"n{i}"))
        assert result.status == 200 and result.body == f"n{i}".encode()
        hosts.add((await agent.call(target, request("whoami"))).body)
    assert len(hosts) == 1
    assert len(containers_with(f"io.hotfn.instance={agent.settings.instance}")) == 1


async def test_container_is_hardened(
    make_docker_agent: MakeAgent, make_target: MakeTarget, pyhot: str
) -> None:
    agent = await make_docker_agent()
    target = make_target(image=pyhot, memory=96, config={"GREETING": "hi"})
    env = json.loads((await agent.call(target, request("env"))).body)
    assert env["GREETING"] == "hi" and env["FN_MEMORY"] == "96"
    assert env["FN_LISTENER"] == "unix:/tmp/iofs/lsnr.sock"
    (cid,) = running_of(agent)
    info = json.loads(docker("inspect", cid))[0]
    host = info["HostConfig"]
    assert host["Init"] is True and host["ReadonlyRootfs"] is True
    assert info["Config"]["User"] == "1000:1000"
    assert host["CapDrop"] == ["ALL"] or "ALL" in host["CapDrop"]
    assert any("no-new-privileges" in opt for opt in host["SecurityOpt"])
    assert host["Memory"] == 96 * 1024 * 1024 == host["MemorySwap"]
    assert host["PidsLimit"] == 50
    assert {"Name": "nofile", "Soft": 350, "Hard": 350} in host["Ulimits"]
    assert host["NetworkMode"] == "none"
    assert "/tmp" in host["Tmpfs"]


async def test_concurrent_calls_use_several_containers_up_to_the_cap(
    make_docker_agent: MakeAgent, make_target: MakeTarget, pyhot: str
) -> None:
    agent = await make_docker_agent()
    target = make_target(image=pyhot, annotations={"hotfn.io/max-containers": 2})
    results = await asyncio.gather(*(agent.call(target, request("sleep:0.5")) for _ in range(4)))
    assert all(r.status == 200 for r in results)
    assert len(running_of(agent)) == 2


async def test_idle_timeout_removes_container(
    make_docker_agent: MakeAgent, make_target: MakeTarget, pyhot: str
) -> None:
    agent = await make_docker_agent()
    target = make_target(image=pyhot, idle_timeout=1)
    await agent.call(target, request())
    assert len(running_of(agent)) == 1
    for _ in range(50):
        await asyncio.sleep(0.1)
        if not containers_with(f"io.hotfn.instance={agent.settings.instance}"):
            break
    assert not containers_with(f"io.hotfn.instance={agent.settings.instance}")


async def test_timeout_504_kills_container(
    make_docker_agent: MakeAgent, make_target: MakeTarget, pyhot: str
) -> None:
    agent = await make_docker_agent()
    target = make_target(image=pyhot, timeout=1)
    first = (await agent.call(target, request("whoami"))).body
    t0 = time.monotonic()
    with pytest.raises(FunctionTimeout):
        await agent.call(target, request("sleep:10"))
    assert time.monotonic() - t0 < 3
    assert (await agent.call(target, request("whoami"))).body != first


async def test_raise_is_502_and_container_kept(
    make_docker_agent: MakeAgent, make_target: MakeTarget, pyhot: str
) -> None:
    agent = await make_docker_agent()
    target = make_target(image=pyhot)
    first = (await agent.call(target, request("whoami"))).body
    req = request("raise")
    with pytest.raises(FunctionFailed):
        await agent.call(target, req)
    assert (await agent.call(target, request("whoami"))).body == first
    await asyncio.sleep(0.5)
    assert "boom" in await agent.calls.get_log(target.fn.id, req.call_id)


async def test_oom_is_502_out_of_memory(
    make_docker_agent: MakeAgent, make_target: MakeTarget, pyhot: str
) -> None:
    agent = await make_docker_agent()
    target = make_target(image=pyhot, memory=64)
    await agent.call(target, request())
    with pytest.raises(OutOfMemory) as err:
        await agent.call(target, request("oom"))
    assert "out of memory" in err.value.message
    assert (await agent.call(target, request("after"))).body == b"after"


async def test_crash_then_replaced(
    make_docker_agent: MakeAgent, make_target: MakeTarget, pyhot: str
) -> None:
    agent = await make_docker_agent()
    target = make_target(image=pyhot)
    first = (await agent.call(target, request("whoami"))).body
    with pytest.raises(InvalidFunctionResponse):
        await agent.call(target, request("crash"))
    assert (await agent.call(target, request("whoami"))).body != first


async def test_init_failure_502_with_hint(
    make_docker_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_docker_agent()
    with pytest.raises(ContainerInitFailed) as err:
        await agent.call(make_target(image=images.init_failure()), request())
    assert "FN_LISTENER" in err.value.message
    assert "exited with code 2" in err.value.message
    assert "no FDK in this image" in err.value.message


async def test_missing_image_fails_fast_with_engine_message(
    make_docker_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_docker_agent()
    t0 = time.monotonic()
    with pytest.raises(ImageNotFound) as err:
        await agent.call(make_target(image="hotfn-test/does-not-exist:1"), request())
    assert time.monotonic() - t0 < 2
    assert "hotfn-test/does-not-exist" in err.value.message


async def test_leftovers_of_earlier_run_removed_at_start(
    make_docker_agent: MakeAgent, docker_label: str
) -> None:
    instance = "old" + docker_label
    cid = docker(
        "create", "--label", "io.hotfn.managed=1", "--label", f"io.hotfn.instance={instance}",
        "--label", f"io.hotfn.test={docker_label}", images.BASE, "true",
    ).strip()  # fmt: skip
    await make_docker_agent(instance=instance)
    assert cid[:12] not in docker("ps", "-aq", "--no-trunc", "--filter", f"id={cid}")

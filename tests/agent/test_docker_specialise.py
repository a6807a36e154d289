"""Cold-start paths on the real engine: warm generic containers specialised per fn,
provisioned containers (images built FROM the local hotfn/python runtime)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hotfn.agent.agent import Agent
from hotfn.agent.call_log import utcnow
from hotfn.types import CallRecord, Target
from tests.agent.conftest import MakeTarget, request
from tests.agent.docker_images import HERE, docker
from tests.docker_support import build_image
from tests.waiting import until

pytestmark = pytest.mark.docker

MakeAgent = Callable[..., Awaitable[Agent]]


@pytest.fixture(scope="module")
def pyruntime_fn() -> str:
    """A function image as `hotfn init --runtime python` would write it."""
    return build_image(
        "hotfn-test/pyruntime-fn:latest",
        "FROM hotfn/python:latest\n"
        "WORKDIR /function\n"
        "COPY func.py /function/\n"
        'ENTRYPOINT ["fdk", "/function/func.py", "handler"]\n',
        {"func.py": HERE / "pyhot.py"},
    )


async def generic_agent(make_docker_agent: MakeAgent, size: int = 1) -> Agent:
    agent = await make_docker_agent(generic_pool_size=size)
    pools = agent.generic
    assert pools is not None and "python" in pools.planner.runtimes
    await until(lambda: len(pools.idle["python"]) == size, within_s=15)
    return agent


async def call(agent: Agent, target: Target, body: str) -> tuple[Any, CallRecord]:
    req = request(body)
    record = CallRecord(req.call_id, target.fn.id, target.app.id, "queued", utcnow())
    return await agent.call(target, req, record), record


async def test_first_call_is_served_by_a_specialised_generic_container(
    make_docker_agent: MakeAgent, make_target: MakeTarget, pyruntime_fn: str
) -> None:
    agent = await generic_agent(make_docker_agent)
    target = make_target(image=pyruntime_fn, memory=192, config={"GREETING": "hi there"})
    result, record = await call(agent, target, "env")
    assert result.status == 200 and record.start_path == "specialised"
    env = json.loads(result.body)
    assert env["GREETING"] == "hi there" and env["FN_FN_ID"] == target.fn.id
    assert env["FN_LISTENER"] == "unix:/tmp/iofs/lsnr.sock"
    result, again = await call(agent, target, "echo me")
    assert result.body == b"echo me" and again.container_id == record.container_id
    assert again.start_path == "hot"
    memory = docker("inspect", "-f", "{{.HostConfig.Memory}}", record.container_id or "")
    assert int(memory) == 192 * 1024 * 1024  # the fn's limit, set live


async def test_generic_container_is_never_given_to_a_second_fn(
    make_docker_agent: MakeAgent, make_target: MakeTarget, pyruntime_fn: str
) -> None:
    agent = await generic_agent(make_docker_agent)
    first, second = make_target(image=pyruntime_fn), make_target(image=pyruntime_fn)
    _, r1 = await call(agent, first, "whoami")
    pools = agent.generic
    assert pools is not None
    await until(lambda: len(pools.idle["python"]) == 1, within_s=15)  # refilled
    _, r2 = await call(agent, second, "whoami")
    assert r1.start_path == r2.start_path == "specialised"
    assert r1.container_id != r2.container_id
    for _ in range(3):
        assert (await call(agent, first, "x"))[1].container_id == r1.container_id
        assert (await call(agent, second, "x"))[1].container_id == r2.container_id


async def test_provisioned_containers_exist_after_deploy_and_after_a_kill(
    make_docker_agent: MakeAgent, make_target: MakeTarget, pyruntime_fn: str
) -> None:
    agent = await make_docker_agent()
    target = make_target(image=pyruntime_fn, annotations={"hotfn.io/provisioned": 2})
    pool = await agent.provisioner.provision(target)
    assert pool is not None
    await until(lambda: pool.fleet.counts()["idle"] == 2, within_s=15)
    before = {c.id for c in pool.containers}
    docker("kill", next(iter(before)))
    await until(
        lambda: pool.fleet.counts()["idle"] == 2 and {c.id for c in pool.containers} != before,
        within_s=15,
    )
    _, record = await call(agent, target, "hi")
    assert record.start_path == "provisioned"

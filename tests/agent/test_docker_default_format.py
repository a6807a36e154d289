"""Default-format (cold) functions on the real Docker Engine."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest

from hotfn.agent.agent import Agent
from hotfn.errors import FunctionFailed, FunctionTimeout, ImageNotFound
from tests.agent import docker_images as images
from tests.agent.conftest import MakeTarget, body_of, request

pytestmark = pytest.mark.docker

MakeAgent = Callable[..., Awaitable[Agent]]


async def test_reference_example_node_new_container_per_call(
    make_docker_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_docker_agent()
    target = make_target(image=images.node_default(), format="default")
    ids = set()
    for name in ("Bob", "Ann"):
        req = request(name)
        result = await agent.call(target, req)
        assert result.status == 200
        assert await body_of(result) == f"Hello {name} from Node!\n".encode()
        ids.add((await agent.calls.get(target.fn.id, req.call_id)).container_id)
    assert len(ids) == 2


async def test_empty_body_says_world(make_docker_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_docker_agent()
    target = make_target(image=images.node_default(), format="default")
    assert await body_of(await agent.call(target, request(b""))) == b"Hello World from Node!\n"


async def test_large_output_after_stdin_closed(
    make_docker_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_docker_agent()
    target = make_target(image=images.cold_python(), format="default")
    size = 5 * 1024 * 1024 + 17  # far larger than a pipe buffer
    result = await agent.call(target, request(f"big:{size}"))
    body = await body_of(result)  # large: it streams
    assert len(body) == size and set(body) == {ord("y")}


async def test_large_input(make_docker_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_docker_agent()
    target = make_target(image=images.cold_python(), format="default")
    body = b"z" * (3 * 1024 * 1024)
    result = await agent.call(target, request(body))
    assert await body_of(result) == b"cold:" + body


async def test_exit_code_502_and_stderr_logged(
    make_docker_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_docker_agent()
    target = make_target(image=images.cold_python(), format="default")
    req = request("exit:4")
    with pytest.raises(FunctionFailed) as err:
        await agent.call(target, req)
    assert "exit code 4" in err.value.message
    assert "went wrong" in await agent.calls.get_log(target.fn.id, req.call_id)


async def test_timeout_kills_and_504(make_docker_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_docker_agent()
    target = make_target(image=images.cold_python(), format="default", timeout=1)
    t0 = time.monotonic()
    with pytest.raises(FunctionTimeout):
        await agent.call(target, request("sleep:20"))
    assert time.monotonic() - t0 < 5


async def test_missing_image(make_docker_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_docker_agent()
    with pytest.raises(ImageNotFound):
        await agent.call(make_target(image="hotfn-test/nope:1", format="default"), request())

"""Default-format (cold) calls on the fake driver."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from hotfn.agent.agent import Agent
from hotfn.errors import FunctionFailed, FunctionTimeout, ImageNotFound, OutOfMemory
from tests.agent.conftest import MakeTarget, body_of, fake, request

MakeAgent = Callable[..., Awaitable[Agent]]


async def test_body_in_stdout_out(make_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_agent()
    target = make_target(format="default")
    result = await agent.call(target, request("Bob"))
    assert result.status == 200 and result.body == b"Hello Bob from Fake!\n"
    result = await agent.call(target, request("Ann"))
    assert fake(agent).default_format_runs == 2 and fake(agent).started == 0


async def test_per_call_environment(make_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_agent()
    target = make_target(format="default", config={"K": "v"}, timeout=7)
    req = request(
        "x",
        headers=[("content-type", "text/plain"), ("x-thing", "a"), ("x-thing", "b")],
        method="PUT",
        url="http://h/invoke/f?x=1",
    )
    await agent.call(target, req)
    env = fake(agent).default_format_specs[-1].env
    assert env["K"] == "v" and env["FN_FORMAT"] == "default"
    assert env["FN_CALL_ID"] == req.call_id and env["FN_DEADLINE"].endswith("Z")
    assert env["FN_METHOD"] == "PUT" and env["FN_REQUEST_URL"] == "http://h/invoke/f?x=1"
    assert env["FN_HEADER_Content_Type"] == "text/plain"
    assert env["FN_HEADER_X_Thing"] == "a, b"
    assert fake(agent).default_format_specs[-1].iofs_dir is None


async def test_nonzero_exit_is_502_with_code_and_stderr_logged(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target(format="default")
    req = request("exit:3")
    with pytest.raises(FunctionFailed) as err:
        await agent.call(target, req)
    assert err.value.status == 502 and "exit code 3" in err.value.message
    assert "something went wrong" in await agent.calls.get_log(target.fn.id, req.call_id)


async def test_timeout_is_504(make_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_agent()
    with pytest.raises(FunctionTimeout):
        await agent.call(make_target(format="default", timeout=1), request("sleep:5"))


async def test_oom_is_502_out_of_memory(make_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_agent()
    with pytest.raises(OutOfMemory) as err:
        await agent.call(make_target(format="default"), request("oom"))
    assert "out of memory" in err.value.message


async def test_large_output(make_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_agent()
    result = await agent.call(make_target(format="default"), request("big:3000000"))
    # Past the 64 KiB held back to decide the status, the output streams.
    assert result.stream is not None
    assert await body_of(result) == b"x" * 3_000_000


async def test_output_streams_while_the_function_runs(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    result = await agent.call(make_target(format="default"), request("lines:10"))
    assert result.stream is not None  # answered after ~0.2 s, long before the last line
    first = await result.stream.read()
    assert first is not None and first.startswith(b"line 0\n")
    rest = await body_of(result)
    assert (first + rest).endswith(b"line 9\n")
    assert agent.inflight == 0 and agent.budget.used_mb == 0


async def test_missing_image(make_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_agent()
    with pytest.raises(ImageNotFound):
        await agent.call(make_target(format="default", image="no/such"), request())
    assert agent.budget.used_mb == 0

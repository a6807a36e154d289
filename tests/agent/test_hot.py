"""Hot (http-stream) calls on the fake driver: reuse, errors, timeouts, crashes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest

from hotfn.agent.agent import Agent
from hotfn.drivers.fake import FakeImage
from hotfn.errors import (
    ContainerInitFailed,
    FunctionFailed,
    FunctionTimeout,
    ImageNotFound,
    InvalidFunctionResponse,
    OutOfMemory,
    ShuttingDown,
    StartTimeout,
)
from tests.agent.conftest import MakeTarget, fake, request
from tests.waiting import until

MakeAgent = Callable[..., Awaitable[Agent]]


async def test_sequential_calls_reuse_one_container(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target()
    for i in range(20):
        result = await agent.call(target, request(f"n{i}"))
        assert result.status == 200
        assert result.body == f"n{i}".encode()
    assert fake(agent).started == 1


async def test_container_gets_the_hot_environment(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target(app_config={"A": "app", "B": "app"}, config={"B": "fn"}, memory=64)
    await agent.call(target, request())
    (c,) = fake(agent).running()
    env = c.env
    assert env["A"] == "app" and env["B"] == "fn"
    assert env["FN_FORMAT"] == "http-stream"
    assert env["FN_LISTENER"] == "unix:/tmp/iofs/lsnr.sock"
    assert env["FN_FN_ID"] == target.fn.id and env["FN_APP_ID"] == target.app.id
    assert env["FN_MEMORY"] == "64" and env["FN_TYPE"] == "sync"
    assert env["FN_APP_NAME"] == "app" and env["FN_FN_NAME"] == target.fn.name
    assert c.spec.memory_mb == 64
    assert c.spec.hardening.read_only_rootfs and c.spec.hardening.user == "1000:1000"
    assert c.labels["io.hotfn.instance"] == agent.settings.instance


async def test_request_headers_follow_the_contract(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target()
    req = request(
        "headers",
        trigger=True,
        headers=[("content-type", "text/plain"), ("x-custom", "v"), ("connection", "close")],
        method="PUT",
        url="http://h/t/app/x?q=1",
    )
    result = await agent.call(target, req)
    got = json.loads(result.body)
    assert got["fn-call-id"] == req.call_id
    assert got["fn-deadline"].endswith("Z")
    assert got["x-custom"] == "v" and got["fn-http-h-x-custom"] == "v"
    assert "fn-http-h-content-type" not in got
    assert got["fn-http-method"] == "PUT"
    assert got["fn-http-request-url"] == "http://h/t/app/x?q=1"
    assert got["fn-intent"] == "httprequest"
    assert got.get("connection") != "close"


async def test_trigger_url_outside_latin_1_is_sent_percent_encoded(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target()
    url = "http://127.0.0.1/t/app/caf\u00e9/\u65e5?q=\u00fc%20x&y=1"
    result = await agent.call(target, request("headers", trigger=True, url=url))
    sent = json.loads(result.body)
    assert (
        sent["fn-http-request-url"] == "http://127.0.0.1/t/app/caf%C3%A9/%E6%97%A5?q=%C3%BC%20x&y=1"
    )
    # The container was healthy all along: it serves the next call too.
    assert (await agent.call(target, request("again"))).body == b"again"
    assert fake(agent).started == 1


async def test_function_that_raises_is_502_and_container_kept(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target()
    with pytest.raises(FunctionFailed) as err:
        await agent.call(target, request("raise"))
    assert err.value.status == 502 and err.value.message == "function failed"
    assert (await agent.call(target, request("ok"))).body == b"ok"
    assert fake(agent).started == 1


async def test_timeout_is_504_and_container_killed(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target(timeout=1)
    await agent.call(target, request("warm"))
    with pytest.raises(FunctionTimeout) as err:
        await agent.call(target, request("hang"))
    assert err.value.status == 504 and err.value.message == "Timed out"
    assert (await agent.call(target, request("after"))).body == b"after"
    assert fake(agent).started == 2


async def test_timeout_counts_from_assignment_not_arrival(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target(timeout=1, annotations={"hotfn.io/max-containers": 1})
    # The second call waits ~0.7 s in the queue, then runs 0.7 s: over 1 s since
    # arrival, under 1 s since assignment.
    results = await asyncio.gather(
        agent.call(target, request("sleep:0.7")), agent.call(target, request("sleep:0.7"))
    )
    assert [r.status for r in results] == [200, 200]


async def test_oom_is_502_saying_out_of_memory(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target()
    with pytest.raises(OutOfMemory) as err:
        await agent.call(target, request("oom"))
    assert err.value.status == 502 and "out of memory" in err.value.message


async def test_crashed_container_is_replaced_on_next_call(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target()
    await agent.call(target, request("one"))
    with pytest.raises(InvalidFunctionResponse) as err:
        await agent.call(target, request("crash"))
    assert "exited with code 3" in err.value.message
    assert (await agent.call(target, request("two"))).body == b"two"
    assert fake(agent).started == 2


async def test_container_dying_while_idle_is_replaced(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target()
    await agent.call(target, request("one"))
    (c,) = fake(agent).running()
    c.die(1)
    await until(lambda: not agent.pools()[0].containers)
    assert (await agent.call(target, request("two"))).body == b"two"
    assert fake(agent).started == 2


async def test_answer_outside_the_contract_kills_the_container(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target()
    with pytest.raises(InvalidFunctionResponse):
        await agent.call(target, request("status:418"))
    await agent.call(target, request("ok"))
    assert fake(agent).started == 2


async def test_init_failure_says_what_was_expected(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    images = {"fake/bad": FakeImage(init="exit", boot_lines=("ModuleNotFoundError: fdk",))}
    agent = await make_agent(images=images)
    with pytest.raises(ContainerInitFailed) as err:
        await agent.call(make_target(image="fake/bad"), request())
    msg = err.value.message
    assert err.value.status == 502
    assert "FN_LISTENER=unix:/tmp/iofs/lsnr.sock" in msg and "exited with code 1" in msg
    assert "ModuleNotFoundError: fdk" in msg


async def test_bad_symlink_is_an_init_failure(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent(images={"fake/sym": FakeImage(init="bad-symlink")})
    with pytest.raises(ContainerInitFailed) as err:
        await agent.call(make_target(image="fake/sym"), request())
    assert "symlink" in err.value.message


async def test_start_timeout_is_504_with_a_hint(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent(images={"fake/hang": FakeImage(init="hang")}, hot_start_timeout=0.3)
    with pytest.raises(StartTimeout) as err:
        await agent.call(make_target(image="fake/hang"), request())
    assert err.value.status == 504
    assert "HOTFN_HOT_START_TIMEOUT" in err.value.message
    assert "/tmp/iofs/lsnr.sock" in err.value.message
    await until(lambda: not fake(agent).running())


async def test_missing_image_fails_fast(make_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_agent()
    with pytest.raises(ImageNotFound) as err:
        await asyncio.wait_for(agent.call(make_target(image="nope/missing"), request()), 1)
    assert "No such image: nope/missing" in err.value.message


async def test_idle_container_removed_after_idle_timeout(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target(idle_timeout=1)
    await agent.call(target, request())
    assert len(fake(agent).running()) == 1
    await until(lambda: not fake(agent).running(), within_s=3)
    await agent.call(target, request())
    assert fake(agent).started == 2


async def test_configuration_change_drains_old_pool(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target(config={"V": "1"})
    await agent.call(target, request())
    (old,) = fake(agent).running()
    changed = make_target(fn_id=target.fn.id, config={"V": "2"})
    await agent.call(changed, request())
    await until(lambda: old not in fake(agent).running())
    (new,) = fake(agent).running()
    assert new is not old and new.env["V"] == "2"


async def test_fn_changed_listener_drains_pool(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target()
    slow = asyncio.create_task(agent.call(target, request("sleep:0.3")))
    await until(lambda: any(c.calls for c in fake(agent).running()))
    agent.provisioner.fn_changed(target.fn.id)
    assert (await slow).body == b"sleep:0.3"  # in-flight call completes
    await until(lambda: not fake(agent).running())


async def test_shutdown_drains_in_flight_calls_then_removes_containers(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target()
    slow = asyncio.create_task(agent.call(target, request("sleep:0.3")))
    await until(lambda: any(c.calls for c in fake(agent).running()))
    await agent.shutdown()
    assert (await slow).body == b"sleep:0.3"
    assert not fake(agent).running()
    with pytest.raises(ShuttingDown):
        await agent.call(target, request())


async def test_start_leftovers_removed(make_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_agent()
    drv = fake(agent)
    mine = drv.add_leftover({"io.hotfn.managed": "1", "io.hotfn.instance": "old"})
    other = drv.add_leftover({"io.hotfn.managed": "1", "io.hotfn.instance": "someone-else"})
    again = await make_agent(driver=drv, instance="old")
    assert mine not in drv.containers and other in drv.containers
    await again.shutdown()
    await drv.remove(other)


async def test_start_survives_engine_down(make_agent: MakeAgent, make_target: MakeTarget) -> None:
    from hotfn.drivers.fake import FakeDriver

    drv = FakeDriver()
    drv.down = True
    agent = await make_agent(driver=drv)
    drv.down = False
    # It started anyway and serves calls once the engine is back.
    assert (await agent.call(make_target(), request("back"))).body == b"back"
    await agent.shutdown()
    assert not drv.running()

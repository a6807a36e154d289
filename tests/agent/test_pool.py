"""Pool scheduling on the fake driver: caps, queueing, growth, memory budget."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from hotfn.agent.agent import Agent
from hotfn.drivers.fake import FakeImage
from hotfn.errors import TooBusy
from tests.agent.conftest import MakeTarget, fake, request
from tests.waiting import until

MakeAgent = Callable[..., Awaitable[Agent]]


def busy(agent: Agent) -> int:
    """Calls being served by a container right now (not waiting for one)."""
    return sum(c.inflight for pool in agent.pools() for c in pool.containers if c.state == "busy")


async def test_one_call_per_container_at_a_time(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target(annotations={"hotfn.io/max-containers": 3})
    await asyncio.gather(*(agent.call(target, request("sleep:0.3")) for _ in range(3)))
    # Slow calls and nothing known yet: each concurrent call gets its own container.
    assert fake(agent).started == 3


async def test_cap_queues_calls(make_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_agent()
    target = make_target(annotations={"hotfn.io/max-containers": 2})
    results = await asyncio.gather(*(agent.call(target, request("sleep:0.1")) for _ in range(6)))
    assert all(r.status == 200 for r in results)
    assert fake(agent).started == 2


async def test_full_queue_is_503_with_retry_after(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent(max_queue_per_fn=2)
    target = make_target(annotations={"hotfn.io/max-containers": 1})
    calls = [asyncio.create_task(agent.call(target, request("sleep:0.3")))]
    await until(lambda: busy(agent) == 1)  # running now
    calls += [asyncio.create_task(agent.call(target, request("sleep:0.1"))) for _ in range(2)]
    await until(lambda: len(agent.pools()[0].waiters) == 2)  # queued
    with pytest.raises(TooBusy) as err:
        await agent.call(target, request())
    assert err.value.status == 503 and int(err.value.headers()["Retry-After"]) >= 1
    assert all(r.status == 200 for r in await asyncio.gather(*calls))


async def test_queue_wait_is_bounded(make_agent: MakeAgent, make_target: MakeTarget) -> None:
    agent = await make_agent(max_queue_wait=0.2)
    target = make_target(annotations={"hotfn.io/max-containers": 1})
    slow = asyncio.create_task(agent.call(target, request("sleep:0.6")))
    await until(lambda: busy(agent) == 1)
    with pytest.raises(TooBusy):
        await agent.call(target, request())
    await slow


async def test_fast_calls_wait_for_busy_containers_instead_of_starting_more(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    # Starting takes 0.2 s, calls take ~1 ms: 16 concurrent callers must be served by
    # the containers already there, not by a burst of new ones (Fn's collapse).
    agent = await make_agent(images={"fake/echo": FakeImage(start_delay=0.2)})
    target = make_target(annotations={"hotfn.io/max-containers": 8})
    await agent.call(target, request())
    for _ in range(5):
        await asyncio.gather(*(agent.call(target, request(f"{i}")) for i in range(16)))
    assert fake(agent).started <= 2


async def test_slow_calls_grow_the_pool_up_to_the_cap(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent(images={"fake/echo": FakeImage(start_delay=0.05)})
    target = make_target(annotations={"hotfn.io/max-containers": 4})
    await agent.call(target, request("sleep:0.3"))
    await asyncio.gather(*(agent.call(target, request("sleep:0.3")) for _ in range(8)))
    assert fake(agent).started == 4


async def test_waiter_reconsiders_when_a_call_is_unexpectedly_slow(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent(images={"fake/echo": FakeImage(start_delay=0.05)})
    target = make_target(annotations={"hotfn.io/max-containers": 2})
    for _ in range(5):
        await agent.call(target, request())  # the pool learns: calls are fast
    stuck = asyncio.create_task(agent.call(target, request("sleep:2")))
    await until(lambda: busy(agent) == 1)
    result = await asyncio.wait_for(agent.call(target, request("quick")), 1.0)
    assert result.body == b"quick"
    await stuck


async def test_concurrency_annotation_shares_a_container(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent()
    target = make_target(annotations={"hotfn.io/concurrency": 4})
    results = await asyncio.gather(*(agent.call(target, request("sleep:0.2")) for _ in range(4)))
    assert all(r.status == 200 for r in results)
    # The first call starts one container; the others may start at most one more
    # before the first is ready, never one each.
    assert fake(agent).started <= 2


async def test_memory_budget_evicts_other_functions_idle_containers(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent(memory_budget_mb=256)
    a, b = make_target(memory=128), make_target(memory=128)
    await agent.call(a, request())
    await agent.call(b, request())
    assert agent.budget.used_mb == 256
    c = make_target(memory=128)
    await agent.call(c, request())
    assert agent.budget.used_mb == 256
    # a was least recently used: it went.
    await until(lambda: len(fake(agent).running()) == 2)
    running = {cont.spec.labels["io.hotfn.fn"] for cont in fake(agent).running()}
    assert running == {b.fn.id, c.fn.id}


async def test_memory_budget_full_of_busy_containers_queues(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent(memory_budget_mb=128)
    a, b = make_target(memory=128), make_target(memory=128)
    slow = asyncio.create_task(agent.call(a, request("sleep:0.3")))
    await until(lambda: busy(agent) == 1)
    # b waits until a's container is idle, evicts it, then runs.
    result = await asyncio.wait_for(agent.call(b, request("b")), 3)
    assert result.body == b"b"
    await slow


async def test_fn_larger_than_budget_is_refused(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent(memory_budget_mb=100)
    with pytest.raises(TooBusy) as err:
        await agent.call(make_target(memory=128), request())
    assert "memory budget" in err.value.message


async def test_memory_freed_for_one_pool_is_not_taken_by_another(
    make_agent: MakeAgent, make_target: MakeTarget
) -> None:
    agent = await make_agent(memory_budget_mb=256, max_queue_wait=5)
    busy_fn, idle_fn = make_target(memory=128), make_target(memory=128)
    waiting_fn, newcomer = make_target(memory=128), make_target(memory=128)
    long_call = asyncio.create_task(agent.call(busy_fn, request("sleep:3")))
    idle_call = asyncio.create_task(agent.call(idle_fn, request("sleep:0.2")))
    await until(lambda: busy(agent) == 2)
    # Nothing idle to evict: this call queues and listens for freed memory.
    waiting = asyncio.create_task(agent.call(waiting_fn, request("w")))
    await until(lambda: any(p.target is waiting_fn and p.waiters for p in agent.pools()))
    await idle_call  # idle_fn's container is idle now (its memory still reserved)
    # The newcomer evicts it; the memory freed is the newcomer's, not the listener's.
    result = await agent.call(newcomer, request("mine"))
    assert result.body == b"mine"
    assert not waiting.done()
    long_call.cancel()
    waiting.cancel()
    await asyncio.gather(long_call, waiting, return_exceptions=True)

"""The memory budget and its FIFO hand-over, without containers."""

from __future__ import annotations

import asyncio

import pytest

from hotfn.agent.budget import MemoryBudget
from hotfn.agent.handover import Waiters
from hotfn.errors import TooBusy


def test_shortfall_says_how_much_is_missing() -> None:
    budget = MemoryBudget(256)
    assert budget.try_reserve(200)
    assert budget.shortfall(56) == 0
    assert budget.shortfall(100) == 44
    assert not budget.try_reserve(100)
    assert budget.used_mb == 200  # a refused reservation takes nothing


async def test_released_memory_goes_to_waiters_in_order() -> None:
    budget = MemoryBudget(100)
    assert budget.try_reserve(100)
    first = asyncio.create_task(budget.wait(60, 5))
    second = asyncio.create_task(budget.wait(30, 5))
    await asyncio.sleep(0)  # both queued
    assert budget.queued == 2
    assert not budget.try_reserve(10)  # nobody jumps the queue
    budget.release(50)  # not enough for the first: the second must not overtake
    await asyncio.sleep(0)
    assert not first.done() and not second.done()
    budget.release(50)
    await asyncio.gather(first, second)
    assert budget.used_mb == 90 and budget.queued == 0


async def test_waiter_cancelled_after_hand_over_gives_memory_back() -> None:
    budget = MemoryBudget(100)
    assert budget.try_reserve(100)
    waiter = asyncio.create_task(budget.wait(100, 5))
    await asyncio.sleep(0)
    budget.release(100)  # handed over: counted as used by the waiter ...
    assert budget.used_mb == 100
    waiter.cancel()  # ... which gives up before it ran
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert budget.used_mb == 0 and budget.queued == 0


async def test_waiter_cancelled_before_hand_over_leaves_the_queue() -> None:
    budget = MemoryBudget(100)
    assert budget.try_reserve(100)
    waiter = asyncio.create_task(budget.wait(50, 5))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert budget.queued == 0
    budget.release(100)
    assert budget.used_mb == 0  # nothing handed to the gone waiter


async def test_wait_times_out_with_too_busy() -> None:
    budget = MemoryBudget(100)
    assert budget.try_reserve(100)
    with pytest.raises(TooBusy):
        await budget.wait(10, 0.01)
    assert budget.queued == 0 and budget.used_mb == 100


async def test_memory_released_while_held_is_claimed_only_after() -> None:
    budget = MemoryBudget(100)
    assert budget.try_reserve(100)
    heard: list[int] = []
    budget.listen(lambda: heard.append(budget.free_mb))
    with budget.held():
        budget.release(100)
        assert heard == []  # nobody else is told while the holder takes its share
        assert budget.try_reserve(70)
    assert heard == [30]


def test_too_large_never_fits() -> None:
    with pytest.raises(TooBusy) as err:
        MemoryBudget(100).check_fits(128)
    assert "memory budget" in err.value.message


async def test_hand_over_skips_waiters_that_are_gone() -> None:
    waiters: Waiters[str] = Waiters()
    gone, live = waiters.enqueue(), waiters.enqueue()
    gone.cancel()
    assert waiters.live() == 1
    assert waiters.hand_over("slot")
    assert live.result() == "slot" and not waiters
    assert not waiters.hand_over("another")


async def test_failed_waiter_leaves_the_queue_without_giving_back() -> None:
    waiters: Waiters[str] = Waiters()
    given_back: list[str] = []
    fut = waiters.enqueue()
    task = asyncio.create_task(waiters.wait(fut, given_back.append))
    await asyncio.sleep(0)
    fut.set_exception(TooBusy())
    with pytest.raises(TooBusy):
        await task
    assert not waiters and given_back == []

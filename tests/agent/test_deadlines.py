"""The shared deadline sweeper: cancels exactly the calls past their deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from hotfn.agent.deadlines import DeadlineSweeper
from tests.waiting import until


@pytest.fixture
def make_sweeper() -> Callable[..., DeadlineSweeper]:
    def make(tick_s: float = 0.01) -> DeadlineSweeper:
        return DeadlineSweeper(tick_s)

    return make


async def _call(sweeper: DeadlineSweeper, seconds: float, work: asyncio.Future[None]) -> str:
    deadline = sweeper.start(seconds)
    try:
        await work
    except asyncio.CancelledError:
        if sweeper.end(deadline):
            return "timed out"
        raise
    finally:
        sweeper.end(deadline)
    return "done"


async def test_a_call_past_its_deadline_is_cancelled_and_told_so(
    make_sweeper: Callable[..., DeadlineSweeper],
) -> None:
    sweeper = make_sweeper()
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(_call(sweeper, 0.02, never))
    assert await task == "timed out"
    assert task.cancelling() == 0  # the sweeper's cancel request was withdrawn
    assert len(sweeper) == 0


async def test_a_call_that_ends_in_time_is_left_alone(
    make_sweeper: Callable[..., DeadlineSweeper],
) -> None:
    sweeper = make_sweeper()
    work: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    slow: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    quick = asyncio.create_task(_call(sweeper, 60, work))
    late = asyncio.create_task(_call(sweeper, 60, slow))
    await until(lambda: len(sweeper) == 2)
    work.set_result(None)
    assert await quick == "done"
    assert len(sweeper) == 1  # the other call is still watched
    slow.set_result(None)
    assert await late == "done"
    assert len(sweeper) == 0
    await until(lambda: sweeper._timer is None, what="the timer stops with no call in flight")


async def test_a_cancel_from_elsewhere_is_not_a_timeout(
    make_sweeper: Callable[..., DeadlineSweeper],
) -> None:
    sweeper = make_sweeper()
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(_call(sweeper, 60, never))
    await until(lambda: len(sweeper) == 1)
    task.cancel()  # the client went away
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(sweeper) == 0

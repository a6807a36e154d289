"""Polling waits for tests: wait until a condition holds, never sleep-then-assert.

``await until(cond)`` in async tests, ``wait_until(cond)`` in sync ones. Both poll
every 10 ms and fail with the description (or the condition's source) when the
condition is still false after ``within_s`` seconds, so a slow machine costs time,
not a flaky failure, and a broken condition fails with a message that says what.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable

_POLL_S = 0.01


def _describe(cond: Callable[[], object], what: str | None) -> str:
    if what:
        return what
    try:
        return inspect.getsource(cond).strip()
    except (OSError, TypeError):
        return repr(cond)


async def until(cond: Callable[[], object], within_s: float = 5.0, what: str | None = None) -> None:
    """Return as soon as ``cond()`` is true; raise AssertionError after ``within_s``.
    ``cond`` may be a coroutine function (e.g. one that asks an HTTP API)."""
    deadline = time.monotonic() + within_s
    while not await _holds(cond):
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {within_s} s: {_describe(cond, what)}")
        await asyncio.sleep(_POLL_S)


async def _holds(cond: Callable[[], object]) -> bool:
    result = cond()
    if inspect.isawaitable(result):
        result = await result
    return bool(result)


def wait_until(cond: Callable[[], object], within_s: float = 5.0, what: str | None = None) -> None:
    """The blocking twin of :func:`until`, for sync tests (real servers, CLI)."""
    deadline = time.monotonic() + within_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {within_s} s: {_describe(cond, what)}")
        time.sleep(_POLL_S)

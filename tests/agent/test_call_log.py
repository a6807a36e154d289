"""Per-call bookkeeping (hotfn/agent/call_log.py): the deadline text every call sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hotfn.agent import call_log


@pytest.mark.parametrize(
    "now",
    [
        1_796_400_000.0,  # a whole second
        1_796_400_000.9995,  # milliseconds truncated, never rounded up to the next second
        1_796_400_059.123456,  # the last second of a minute
        1_796_403_599.999,
    ],
)
def test_deadline_text_is_rfc3339_of_now_plus_the_timeout(
    now: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_log.time, "time", lambda: now)
    for seconds in (0.0, 1.5, 30.0, 3600.0):
        moment = datetime.fromtimestamp(now, UTC) + timedelta(seconds=seconds)
        assert call_log.deadline_after(seconds) == call_log.rfc3339(moment)


def test_the_cached_second_moves_on(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_796_400_000.25]
    monkeypatch.setattr(call_log.time, "time", lambda: clock[0])
    assert call_log.deadline_after(0) == "2026-12-04T16:00:00.250Z"
    clock[0] += 0.5
    assert call_log.deadline_after(0) == "2026-12-04T16:00:00.750Z"
    clock[0] += 0.5
    assert call_log.deadline_after(0) == "2026-12-04T16:00:01.250Z"
    clock[0] -= 3600  # a clock stepped back: the old second is formatted afresh
    assert call_log.deadline_after(0) == "2026-12-04T15:00:01.250Z"

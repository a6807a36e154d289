"""When a hot pool should start another container: running averages of call and
start times, and the decision made from them (design.md §7).

A new container is worth starting only if the queue beyond what starting containers
will absorb would not drain through the running ones before a new one could be
ready. Pure arithmetic, no I/O: the pool feeds it samples and counts.
"""

from __future__ import annotations

_EWMA = 0.2  # weight of the newest sample in running averages
_DEFAULT_START_S = 0.5  # start-time guess before the pool has started anything


class Growth:
    """Running averages of one pool's call (``run_s``) and start (``start_s``) times."""

    __slots__ = ("run_s", "start_s")

    def __init__(self) -> None:
        self.run_s: float | None = None
        self.start_s: float | None = None

    def ran(self, seconds: float) -> None:
        avg = self.run_s
        self.run_s = seconds if avg is None else avg + _EWMA * (seconds - avg)

    def started(self, seconds: float) -> None:
        avg = self.start_s
        self.start_s = seconds if avg is None else avg + _EWMA * (seconds - avg)

    def recheck_s(self) -> float:
        """How long a waiter waits before growth is re-evaluated for it: as long as a
        start takes (then the estimate was wrong)."""
        return max(self.start_s or _DEFAULT_START_S, 0.05)

    def retry_after(self, waiting: int, running_slots: int) -> int:
        """Seconds until the queue is likely served (a 503's ``Retry-After``)."""
        per_call = self.run_s or 1.0
        return max(1, round(waiting * per_call / max(1, running_slots)))

    def worth_starting(self, need: int, supply: int, running_slots: int, force: bool) -> bool:
        """``need`` waiters, ``supply`` slots on the way (starting containers),
        ``running_slots`` slots of running containers; ``force`` after a waiter
        waited a start time."""
        if need <= supply:
            return False
        if force or running_slots == 0 or self.run_s is None:
            return True
        expected_wait = (need - supply) / running_slots * self.run_s
        return expected_wait >= (self.start_s or _DEFAULT_START_S)

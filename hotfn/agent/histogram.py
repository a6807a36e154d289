"""Per-function idle-time histograms and the hybrid keep-alive decision.

After "Serverless in the Wild" (Shahrad et al., USENIX ATC '20, §4.2): for each
function, record the idle time between the end of one burst of activity and the next
call in a fixed-size histogram. When the histogram is *representative* (enough
samples, few beyond its range, peaked rather than flat: coefficient of variation of
the bin counts above a threshold) and the pattern *regular* (the 5th to 99th
percentile window at most ``max_window_s``, 20 minutes), use it:

- **pre-warm window** = the 5th percentile of idle times, minus a 10 % margin: when
  it is long enough to be worth it, the container is let go right after a call and a
  new one is started when the window has passed, ahead of the expected next call;
- **keep-alive window** = the 99th percentile, plus a 10 % margin: the container is
  kept until that much idle time has passed.

Otherwise (too little history, an irregular pattern, or mostly idle times beyond the
range: the paper's ARIMA case) it falls back to the fn's fixed ``idle_timeout``.

This module is pure computation (no asyncio, no agent objects): the agent's
:class:`~hotfn.agent.keepalive.AdaptiveKeepAlive` and the trace-driven simulation
``bench/sim_keepalive.py`` run exactly this code.

Memory per function is bounded: :data:`BINS` counters (448 × 4 bytes) plus a few
numbers; counts are halved once they sum to :data:`MAX_WEIGHT`, so old behaviour
fades and a changed pattern takes over.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections import OrderedDict
from dataclasses import dataclass


def _edges() -> list[float]:
    # 1 s bins for the first 2 minutes (hot-container timescales), 10 s bins to
    # 20 minutes, 1 minute bins to 4 hours (the paper's range and resolution).
    edges = [float(s) for s in range(0, 120)]
    edges += [float(s) for s in range(120, 1200, 10)]
    edges += [float(s) for s in range(1200, 4 * 3600 + 1, 60)]
    return edges


EDGES: list[float] = _edges()  # lower edge of each bin; the last one is the range's end
BINS = len(EDGES) - 1
RANGE_S = EDGES[-1]
MAX_WEIGHT = 2000  # halve all counts when they sum to this (exponential forgetting)


@dataclass(frozen=True)
class Windows:
    """What to do with a function's container after a call.

    ``prewarm_s`` 0: keep it loaded; > 0: let it go at once and start one again when
    the fn has been idle for ``prewarm_s``. Either way nothing is kept once the fn
    has been idle for ``keepalive_s``. ``mode`` says which rule produced them:
    ``adaptive`` or ``fixed`` (fallback).
    """

    prewarm_s: float
    keepalive_s: float
    mode: str

    def keep(self, idle_s: float, prewarmed: bool) -> bool:
        """Keep an idle container after ``idle_s`` of fn idleness? A container that
        served a call is let go at once when a pre-warm will replace it
        (``prewarmed``: started by that pre-warm and not used yet)."""
        if self.prewarm_s > 0 and not prewarmed:
            return False
        return idle_s < self.keepalive_s

    def prewarm_due(self, idle_s: float) -> bool:
        """Start a container now, the fn idle for ``idle_s`` and none running?"""
        return 0 < self.prewarm_s <= idle_s < self.keepalive_s


class IdleHistogram:
    """Idle times of one function in :data:`BINS` fixed bins (bounded memory)."""

    __slots__ = ("counts", "oob", "total")

    def __init__(self) -> None:
        self.counts = array("I", bytes(4 * BINS))
        self.total = 0  # samples within range
        self.oob = 0  # samples beyond RANGE_S

    def add(self, idle_s: float) -> None:
        if idle_s >= RANGE_S:
            self.oob += 1
        else:
            self.counts[bisect.bisect_right(EDGES, max(0.0, idle_s)) - 1] += 1
            self.total += 1
        if self.total + self.oob >= MAX_WEIGHT:
            self._halve()

    def _halve(self) -> None:
        counts = self.counts
        for i in range(BINS):
            if counts[i]:
                counts[i] //= 2
        self.total = sum(counts)
        self.oob //= 2

    def percentile(self, q: float, upper: bool) -> float:
        """The bin edge at which ``q`` percent of in-range samples lie below (the
        bin's upper edge when ``upper``, for a keep-alive that must cover it)."""
        want = self.total * q / 100.0
        seen = 0
        for i, count in enumerate(self.counts):
            seen += count
            if count and seen >= want:
                return EDGES[i + 1] if upper else EDGES[i]
        return RANGE_S

    def cv(self) -> float:
        """Coefficient of variation of the bin counts: high for peaked histograms
        (predictable idle times), low for flat ones."""
        if not self.total:
            return 0.0
        mean = self.total / BINS
        var = sum((c - mean) ** 2 for c in self.counts) / BINS
        return math.sqrt(var) / mean


class HybridPolicy:
    """The hybrid histogram policy over many functions (keyed by fn id).

    ``observe_idle`` feeds a function's idle time; ``windows`` answers what to do.
    At most ``max_fns`` histograms are kept (least recently observed dropped).
    """

    def __init__(
        self,
        *,
        min_samples: int = 10,
        cv_threshold: float = 2.0,
        head_q: float = 5.0,
        tail_q: float = 99.0,
        margin: float = 0.1,
        min_prewarm_s: float = 10.0,
        floor_s: float = 30.0,
        max_oob_fraction: float = 0.5,
        max_window_s: float = 1200.0,
        max_fns: int = 10_000,
    ) -> None:
        self.min_samples = min_samples
        self.cv_threshold = cv_threshold
        self.head_q = head_q
        self.tail_q = tail_q
        self.margin = margin
        # Letting a container go and starting another costs a start: only worth it
        # when the pre-warm window saves at least this much container time.
        self.min_prewarm_s = min_prewarm_s
        # A burst of back-to-back calls would make the 99th percentile a second or
        # two; the keep-alive never drops below the fn's idle_timeout or floor_s,
        # whichever is smaller (a pause in a burst must not cost a cold start).
        self.floor_s = floor_s
        self.max_oob_fraction = max_oob_fraction
        # A pattern is regular when the next call is predictable to within this
        # window (99th minus 5th percentile): keeping a container idle across an
        # hours-wide window costs more memory than the cold start it may save.
        self.max_window_s = max_window_s
        self.max_fns = max_fns
        self._hists: OrderedDict[str, IdleHistogram] = OrderedDict()
        self._cache: dict[str, tuple[int, float, Windows]] = {}

    def observe_idle(self, fn_id: str, idle_s: float) -> None:
        hist = self._hists.get(fn_id)
        if hist is None:
            hist = self._hists[fn_id] = IdleHistogram()
            if len(self._hists) > self.max_fns:
                old, _ = self._hists.popitem(last=False)
                self._cache.pop(old, None)
        else:
            self._hists.move_to_end(fn_id)
        hist.add(idle_s)

    def histogram(self, fn_id: str) -> IdleHistogram | None:
        return self._hists.get(fn_id)

    def windows(self, fn_id: str, fixed_s: float) -> Windows:
        """The windows for ``fn_id`` now; ``fixed_s`` is its fixed ``idle_timeout``."""
        hist = self._hists.get(fn_id)
        if hist is None:
            return Windows(0.0, fixed_s, "fixed")
        stamp = hist.total * 1_000_003 + hist.oob
        hit = self._cache.get(fn_id)
        if hit is not None and hit[0] == stamp and hit[1] == fixed_s:
            return hit[2]
        w = self._compute(hist, fixed_s)
        self._cache[fn_id] = (stamp, fixed_s, w)
        return w

    def _compute(self, hist: IdleHistogram, fixed_s: float) -> Windows:
        samples = hist.total + hist.oob
        if (
            samples < self.min_samples
            or hist.oob > self.max_oob_fraction * samples
            or hist.cv() < self.cv_threshold
        ):
            return Windows(0.0, fixed_s, "fixed")
        head = hist.percentile(self.head_q, upper=False) * (1 - self.margin)
        tail = hist.percentile(self.tail_q, upper=True) * (1 + self.margin)
        if tail - head > self.max_window_s:
            return Windows(0.0, fixed_s, "fixed")  # irregular
        prewarm = head if head >= self.min_prewarm_s else 0.0
        return Windows(prewarm, max(tail, prewarm + min(fixed_s, self.floor_s)), "adaptive")

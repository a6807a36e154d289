"""The hybrid histogram keep-alive policy (pure logic, no containers)."""

from __future__ import annotations

import random

from hotfn.agent.histogram import BINS, MAX_WEIGHT, HybridPolicy, IdleHistogram, Windows


def test_histogram_percentiles_and_bounded_weight() -> None:
    h = IdleHistogram()
    for s in range(100):
        h.add(float(s))
    assert h.percentile(5, upper=False) == 4.0 and h.percentile(99, upper=True) == 99.0
    for _ in range(5 * MAX_WEIGHT):
        h.add(3.0)
    assert h.total + h.oob < MAX_WEIGHT and len(h.counts) == BINS
    h.add(10 * 3600 * 24)
    assert h.oob == 1


def test_too_little_history_is_the_fixed_timeout() -> None:
    p = HybridPolicy()
    for _ in range(5):
        p.observe_idle("f", 300)
    assert p.windows("f", 30) == Windows(0.0, 30, "fixed")
    assert p.windows("unknown", 45) == Windows(0.0, 45, "fixed")


def test_regular_pattern_prewarms_before_the_5th_and_keeps_to_the_99th_percentile() -> None:
    p = HybridPolicy()
    rng = random.Random(1)
    for _ in range(200):
        p.observe_idle("timer", 300 + rng.uniform(-3, 3))
    w = p.windows("timer", 30)
    assert w.mode == "adaptive"
    assert 260 < w.prewarm_s < 297 and 303 < w.keepalive_s < 345
    assert not w.keep(1.0, prewarmed=False)  # let go after the call
    assert w.prewarm_due(w.prewarm_s) and not w.prewarm_due(w.prewarm_s - 1)
    assert w.keep(300, prewarmed=True) and not w.keep(w.keepalive_s, prewarmed=True)


def test_back_to_back_calls_keep_at_least_the_floor() -> None:
    p = HybridPolicy()
    for _ in range(50):
        p.observe_idle("busy", 0.01)
    w = p.windows("busy", 30)
    assert w.mode == "adaptive" and w.prewarm_s == 0 and w.keepalive_s == 30
    assert p.windows("busy", 10).keepalive_s == 10  # never above a shorter idle_timeout


def test_irregular_or_out_of_range_patterns_fall_back() -> None:
    p = HybridPolicy()
    rng = random.Random(2)
    for _ in range(300):
        p.observe_idle("random", rng.uniform(0, 3 * 3600))
        p.observe_idle("rare", rng.uniform(5, 20) * 3600)
    assert p.windows("random", 30).mode == "fixed"
    assert p.windows("rare", 30).mode == "fixed"


def test_number_of_histograms_is_bounded() -> None:
    p = HybridPolicy(max_fns=3)
    for i in range(10):
        p.observe_idle(f"f{i}", 1)
    assert p.histogram("f0") is None and p.histogram("f9") is not None

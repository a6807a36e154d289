"""Lock-free per-call metrics (hotfn/agent/loop_metrics.py): the text /metrics shows
is prometheus_client's own for the same updates, ``_created`` included."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import metrics as client_metrics

from hotfn.agent.loop_metrics import LoopCounter, LoopHistogram

BUCKETS = (0.0002, 0.001, 0.5, 2.5, 300)
# Edges, between edges, zero, past the last bound, a huge one.
AMOUNTS = (0.0, 0.0002, 0.00021, 0.001, 0.3, 0.5, 2.5, 2.6, 299.0, 300.0, 301.0, 1e9)


def text(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def without_created_values(exposition: str) -> str:
    # Creation times differ between two objects made a moment apart.
    return re.sub(r"(_created\{[^}]*\}) \S+", r"\1 T", exposition)


@pytest.fixture
def registries() -> Callable[[], tuple[CollectorRegistry, CollectorRegistry]]:
    def make() -> tuple[CollectorRegistry, CollectorRegistry]:
        return CollectorRegistry(auto_describe=True), CollectorRegistry(auto_describe=True)

    return make


def test_a_histogram_shows_the_same_series_as_prometheus_clients(
    registries: Callable[[], tuple[CollectorRegistry, CollectorRegistry]],
) -> None:
    ours_reg, theirs_reg = registries()
    ours = LoopHistogram("x_seconds", "Doc.", "fn", BUCKETS, ours_reg)
    theirs = Histogram("x_seconds", "Doc.", ["fn"], registry=theirs_reg, buckets=BUCKETS)
    for fn in ("b", "a"):  # insertion order is kept, not sorted
        for amount in AMOUNTS:
            ours.labels(fn).observe(amount)
            theirs.labels(fn).observe(amount)
    ours.labels("c")  # a series with no observation yet
    theirs.labels("c")
    expected = text(theirs_reg)
    assert 'x_seconds_bucket{fn="b",le="+Inf"} 12.0' in expected  # the comparison bites
    assert without_created_values(text(ours_reg)) == without_created_values(expected)


def test_a_counter_shows_the_same_series_as_prometheus_clients(
    registries: Callable[[], tuple[CollectorRegistry, CollectorRegistry]],
) -> None:
    ours_reg, theirs_reg = registries()
    ours = LoopCounter("calls_total", "Calls.", ["fn", "status"], ours_reg)
    theirs = Counter("calls_total", "Calls.", ["fn", "status"], registry=theirs_reg)
    for fn, status, times in (("f", "200", 3), ("f", "502", 1), ("g", "200", 2)):
        for _ in range(times):
            ours.labels(fn, status).inc()
            theirs.labels(fn, status).inc()
    expected = text(theirs_reg)
    assert 'calls_total{fn="f",status="200"} 3.0' in expected
    assert without_created_values(text(ours_reg)) == without_created_values(expected)


def test_created_series_follow_prometheus_clients_switch(
    registries: Callable[[], tuple[CollectorRegistry, CollectorRegistry]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reg, _ = registries()
    LoopCounter("c_total", "C.", ["fn"], reg).labels("f").inc()
    LoopHistogram("h_seconds", "H.", "fn", BUCKETS, reg).labels("f").observe(1.0)
    assert "c_created" in text(reg) and "h_seconds_created" in text(reg)
    monkeypatch.setattr(client_metrics, "_use_created", False)
    assert "_created" not in text(reg)


def test_a_name_taken_in_the_registry_is_refused(
    registries: Callable[[], tuple[CollectorRegistry, CollectorRegistry]],
) -> None:
    reg, _ = registries()
    Histogram("dup_seconds", "D.", ["fn"], registry=reg)
    with pytest.raises(ValueError):
        LoopHistogram("dup_seconds", "D.", "fn", BUCKETS, reg)


def test_series_are_kept_per_label_and_checked(
    registries: Callable[[], tuple[CollectorRegistry, CollectorRegistry]],
) -> None:
    reg, _ = registries()
    counter = LoopCounter("k_total", "K.", ["fn", "status"], reg)
    assert counter.labels("f", "200") is counter.labels("f", "200")
    with pytest.raises(ValueError):
        counter.labels("f")
    hist = LoopHistogram("k_seconds", "K.", "fn", (1.0, math.inf), reg)
    assert hist.bounds == (1.0, math.inf)  # +Inf not doubled
    assert hist.labels("f") is hist.labels("f")

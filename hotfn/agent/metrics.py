"""The agent's Prometheus metrics (in ``hotfn.metrics.REGISTRY``).

Per-call metrics go through a :class:`FnMetrics` object cached per fn, so the hot path
does no label lookups, and are lock-free series of the event loop's thread
(``hotfn.agent.loop_metrics``: the same exposed series as prometheus_client's, a
fraction of the cost per call). Container counts, queue depths and reserved memory are read
from live :class:`GaugeSource` objects (the agents) when ``/metrics`` is scraped,
costing nothing per call.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from typing import Protocol

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hotfn.agent.loop_metrics import CounterSeries, LoopCounter, LoopHistogram
from hotfn.metrics import REGISTRY

_BUCKETS = (
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    30, 60, 300,
)  # fmt: skip

# Updated per call (on the loop's thread): lock-free series, see loop_metrics.
CALLS = LoopCounter(
    "hotfn_calls_total", "Function calls by fn and HTTP status.", ["fn", "status"],
    registry=REGISTRY,
)  # fmt: skip
QUEUE_SECONDS = LoopHistogram(
    "hotfn_call_queue_seconds",
    "Time a call waited for a container (includes a container start it waited for).",
    "fn", registry=REGISTRY, buckets=_BUCKETS,
)  # fmt: skip
START_SECONDS = Histogram(
    "hotfn_container_start_seconds",
    "Time to start a container until it was ready (hot) or running (cold).",
    ["fn", "format"], registry=REGISTRY, buckets=_BUCKETS,
)  # fmt: skip
RUN_SECONDS = LoopHistogram(
    "hotfn_call_run_seconds", "Time from container assignment to the function's answer.",
    "fn", registry=REGISTRY, buckets=_BUCKETS,
)  # fmt: skip
CONTAINER_STARTS = Counter(
    "hotfn_container_starts_total", "Containers started, by fn, format and start path.",
    ["fn", "format", "path"], registry=REGISTRY,
)  # fmt: skip


class FnMetrics:
    """The metric children of one fn (label lookups done once)."""

    __slots__ = ("_by_status", "fn_id", "queue", "run")

    def __init__(self, fn_id: str) -> None:
        self.fn_id = fn_id
        self.queue = QUEUE_SECONDS.labels(fn_id)
        self.run = RUN_SECONDS.labels(fn_id)
        self._by_status: dict[int, CounterSeries] = {}

    def call(self, status: int) -> None:
        counter = self._by_status.get(status)
        if counter is None:
            counter = self._by_status[status] = CALLS.labels(self.fn_id, str(status))
        counter.inc()

    def started(self, fmt: str, path: str, seconds: float) -> None:
        START_SECONDS.labels(self.fn_id, fmt).observe(seconds)
        CONTAINER_STARTS.labels(self.fn_id, fmt, path).inc()


class GaugeSource(Protocol):
    """What the gauges are read from at scrape time."""

    def memory_reserved_mb(self) -> int: ...

    def container_counts(self) -> Iterable[tuple[str, str, int]]:
        """(fn id, state, count) of hot containers."""
        ...

    def queue_depths(self) -> Iterable[tuple[str, int]]:
        """(fn id, calls waiting for a container)."""
        ...


class _GaugeCollector(Collector):
    """Gauges read from live sources at scrape time."""

    def __init__(self) -> None:
        self._sources: weakref.WeakSet[GaugeSource] = weakref.WeakSet()

    def add(self, source: GaugeSource) -> None:
        self._sources.add(source)

    def discard(self, source: GaugeSource) -> None:
        self._sources.discard(source)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        containers = GaugeMetricFamily(
            "hotfn_hot_containers", "Hot containers by fn and state.", labels=["fn", "state"]
        )
        queue = GaugeMetricFamily(
            "hotfn_queue_depth", "Calls waiting for a container, by fn.", labels=["fn"]
        )
        memory = GaugeMetricFamily(
            "hotfn_memory_reserved_mb", "Container memory reserved in the budget (MB)."
        )
        totals: dict[tuple[str, str], int] = {}
        depths: dict[str, int] = {}
        used = 0
        for source in list(self._sources):
            used += source.memory_reserved_mb()
            for fn_id, state, count in source.container_counts():
                totals[fn_id, state] = totals.get((fn_id, state), 0) + count
            for fn_id, depth in source.queue_depths():
                depths[fn_id] = depths.get(fn_id, 0) + depth
        for (fn_id, state), count in sorted(totals.items()):
            containers.add_metric([fn_id, state], count)
        for fn_id, depth in sorted(depths.items()):
            queue.add_metric([fn_id], depth)
        memory.add_metric([], used)
        yield containers
        yield queue
        yield memory

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


COLLECTOR = _GaugeCollector()
REGISTRY.register(COLLECTOR)

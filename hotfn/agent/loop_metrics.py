"""Prometheus counters and histograms for the event loop's thread: no lock per update.

prometheus_client's ``Counter.inc`` and ``Histogram.observe`` take a lock for every
value they touch (a histogram: its sum and one bucket), and check on each call that
the metric is a labelled child. Every hot call updated three of them. The series here
hold plain numbers that only the event loop's thread changes (calls and ``/metrics``
scrapes both run there), and are turned into prometheus_client's ``Metric`` families
when the registry is collected: the exposed series are the same as those of
``Counter`` / ``Histogram`` with the same name, labels and buckets (``_total`` /
``_bucket``, ``_count``, ``_sum`` and, unless disabled, ``_created``).

Not for metrics updated from other threads: ``+=`` on an attribute is not atomic.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client import metrics as _client_metrics
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString


def _use_created() -> bool:
    # prometheus_client's own switch (PROMETHEUS_DISABLE_CREATED_SERIES,
    # disable_created_metrics()), read at collection as its metrics do.
    return bool(getattr(_client_metrics, "_use_created", True))


class CounterSeries:
    """One labelled counter series."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0
        self.created = time.time()

    def inc(self) -> None:
        self.value += 1


class HistogramSeries:
    """One labelled histogram series: a count per bucket (not cumulative) and the sum."""

    __slots__ = ("_bounds", "counts", "created", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        self.sum += amount
        # The first bucket whose bound is >= amount (as prometheus_client: le).
        self.counts[bisect_left(self._bounds, amount)] += 1


class LoopCounter(Collector):
    """A counter family (``name`` ends in ``_total``), series made by :meth:`labels`."""

    def __init__(
        self, name: str, doc: str, labelnames: Sequence[str], registry: CollectorRegistry
    ) -> None:
        self.name = name.removesuffix("_total")
        self.doc = doc
        self.labelnames = tuple(labelnames)
        self._series: dict[tuple[str, ...], CounterSeries] = {}
        registry.register(self)

    def labels(self, *values: str) -> CounterSeries:
        """The series of these label values (made on first use, kept)."""
        series = self._series.get(values)
        if series is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name}: expected labels {self.labelnames}")
            series = self._series[values] = CounterSeries()
        return series

    def describe(self) -> Iterator[Metric]:
        yield Metric(self.name, self.doc, "counter")

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self.name, self.doc, "counter")
        created = _use_created()
        for values, series in list(self._series.items()):
            labels = dict(zip(self.labelnames, values, strict=True))
            metric.add_sample(self.name + "_total", labels, float(series.value))
            if created:
                metric.add_sample(self.name + "_created", labels, series.created)
        yield metric


class LoopHistogram(Collector):
    """A histogram family with one label, series made by :meth:`labels`."""

    def __init__(
        self,
        name: str,
        doc: str,
        labelname: str,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self.name = name
        self.doc = doc
        self.labelname = labelname
        bounds = sorted(float(b) for b in buckets)
        if bounds[-1] != math.inf:
            bounds.append(math.inf)
        self.bounds = tuple(bounds)
        self._le = [floatToGoString(b) for b in bounds]  # type: ignore[no-untyped-call]
        self._series: dict[str, HistogramSeries] = {}
        registry.register(self)

    def labels(self, value: str) -> HistogramSeries:
        """The series of this label value (made on first use, kept)."""
        series = self._series.get(value)
        if series is None:
            series = self._series[value] = HistogramSeries(self.bounds)
        return series

    def describe(self) -> Iterator[Metric]:
        yield Metric(self.name, self.doc, "histogram")

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self.name, self.doc, "histogram")
        created = _use_created()
        name = self.name
        for value, series in list(self._series.items()):
            base = {self.labelname: value}
            acc = 0.0
            for le, count in zip(self._le, list(series.counts), strict=True):
                acc += count
                metric.add_sample(name + "_bucket", {**base, "le": le}, acc)
            metric.add_sample(name + "_count", base, acc)
            if self.bounds[0] >= 0:
                metric.add_sample(name + "_sum", base, series.sum)
            if created:
                metric.add_sample(name + "_created", base, series.created)
        yield metric

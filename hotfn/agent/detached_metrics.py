"""Metrics of detached calls (in ``hotfn.metrics.REGISTRY``).

Depth and the oldest call's age are of the whole queue (every server's, on a shared
PostgreSQL): the dispatcher reads them from the database at each slow poll, and the
age is computed at scrape time from the oldest call's creation, so it keeps growing
between polls as it should.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hotfn.metrics import REGISTRY
from hotfn.store.detached_queue import QueueStats

ENQUEUED = Counter(
    "hotfn_detached_enqueued_total", "Detached calls stored (answered 202).", ["fn"],
    registry=REGISTRY,
)  # fmt: skip
REJECTED = Counter(
    "hotfn_detached_rejected_total", "Detached calls refused with 503: the queue was full.",
    registry=REGISTRY,
)  # fmt: skip
RETRIES = Counter(
    "hotfn_detached_retries_total", "Detached call attempts that failed and were rescheduled.",
    ["fn"], registry=REGISTRY,
)  # fmt: skip
DEAD_LETTERS = Counter(
    "hotfn_detached_dead_letters_total", "Detached calls that ended failed, by fn.", ["fn"],
    registry=REGISTRY,
)  # fmt: skip


class _QueueCollector(Collector):
    def __init__(self) -> None:
        self.stats = QueueStats()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "hotfn_detached_queue_depth",
            "Detached calls not ended yet (queued, running or waiting to retry), by fn.",
            labels=["fn"],
        )
        for fn_id, count in sorted(self.stats.depth.items()):
            depth.add_metric([fn_id], count)
        age = GaugeMetricFamily(
            "hotfn_detached_oldest_age_seconds", "Age of the oldest detached call not ended."
        )
        oldest = self.stats.oldest
        age.add_metric([], (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0)
        yield depth
        yield age

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


QUEUE = _QueueCollector()
REGISTRY.register(QUEUE)

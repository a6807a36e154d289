"""The Prometheus registry every part of hotfn registers its metrics in.

One registry per process (not prometheus_client's global one) so tests that build
several apps in one process do not collide; ``GET /metrics`` renders it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

API_REQUESTS = Counter(
    "hotfn_api_requests_total",
    "Management API requests by method, route and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
API_LATENCY = Histogram(
    "hotfn_api_request_seconds",
    "Management API request latency.",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

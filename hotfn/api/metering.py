"""Request counts and latency of the management API for ``/metrics``.

Routes are labelled by shape (``/v2/fns/{id}``), never by raw path, so the number of
series stays bounded whatever callers send. Invoke and trigger traffic is metered by
the agent, with its queue/start/run split.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotfn.metrics import API_LATENCY, API_REQUESTS

_KNOWN = {"apps", "fns", "triggers"}


def route_label(path: str) -> str | None:
    parts = path.split("/")
    if len(parts) < 3 or parts[1] != "v2" or parts[2] not in _KNOWN:
        return None
    label = f"/v2/{parts[2]}"
    if len(parts) > 3 and parts[3]:
        label += "/{id}"
        if len(parts) > 4:
            label += "/" + "/".join("{id}" if i % 2 else p for i, p in enumerate(parts[4:]))
    return label


class Metering:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = route_label(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            method = scope["method"]
            API_REQUESTS.labels(method, route, str(status)).inc()
            API_LATENCY.labels(method, route).observe(time.perf_counter() - start)

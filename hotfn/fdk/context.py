"""What a function knows about its call: :class:`Context`, and Fn's deadline format."""

from __future__ import annotations

import calendar
import os
import re
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from hotfn.fdk.http11 import HOP_BY_HOP, Headers

if TYPE_CHECKING:
    from collections.abc import Mapping

# Spelled out rather than datetime.UTC, which only exists from Python 3.11.
_UTC = timezone(timedelta(0), "UTC")
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:?\d\d)?\Z"
)
HTTP_PREFIX = "fn-http-h-"
# Headers of the agent's own hop to the container, not of the client's request.
_HOP = HOP_BY_HOP


def parse_deadline(value: str | None) -> float | None:
    """An RFC 3339 time (``2026-11-29T11:54:51Z``, ``...51.123+01:00``) as a Unix
    timestamp; ``None`` if absent or unreadable (the call then has no deadline).

    Written out because ``datetime.fromisoformat`` only learnt ``Z`` and
    nanosecond fractions (which Go may send) in Python 3.11.
    """
    if not value:
        return None
    match = _RFC3339.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        datetime(year, month, day, hour, minute, min(second, 59))  # validates the fields
    except ValueError:
        return None
    stamp = float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))
    if match.group(7):
        stamp += float("0" + match.group(7))
    zone = match.group(8)
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + int(digits[2:]) * 60
        stamp -= offset if zone[0] == "+" else -offset
    return stamp


def http_request_headers(headers: Headers, is_http: bool) -> Headers:
    """The headers of the HTTP request behind a call.

    For a trigger call they are Fn's ``Fn-Http-H-*`` headers with the prefix
    removed, plus ``Content-Type`` (which Fn sends as itself); for any other call,
    the call's headers without Fn's own ``Fn-*`` ones and the hop's framing.
    """
    if is_http:
        pairs = [
            (name[len(HTTP_PREFIX) :], value)
            for name, value in headers.pairs
            if name.lower().startswith(HTTP_PREFIX)
        ]
        pairs.extend(("Content-Type", v) for v in headers.get_all("content-type"))
    else:
        pairs = [
            (n, v)
            for n, v in headers.pairs
            if not n.lower().startswith("fn-") and n.lower() not in _HOP
        ]
    return Headers(pairs)


class Context:
    """The call a handler is serving.

    Attributes:
        call_id: Fn's call id (``Fn-Call-Id``).
        deadline: when the call must be answered (aware UTC datetime) or ``None``.
        headers: every header of the call as the agent sent it (case-insensitive).
        http_headers: the headers of the client's HTTP request (for trigger calls,
            Fn's ``Fn-Http-H-*`` headers unwrapped).
        is_http: the call came through an HTTP trigger (``Fn-Intent: httprequest``).
        method: the client's HTTP method for trigger calls, else ``"POST"``.
        request_url: the client's full URL for trigger calls, else ``None``.
        content_type: the body's ``Content-Type`` or ``None``.
        app_id, app_name, fn_id, fn_name: from ``FN_APP_ID`` ... (``None`` if unset).
        config: the container's environment: app config, fn config and ``FN_*``.
        memory_mb: ``FN_MEMORY`` as an int, or ``None``.
    """

    __slots__ = (
        "_deadline_ts",
        "app_id",
        "app_name",
        "call_id",
        "config",
        "content_type",
        "deadline",
        "fn_id",
        "fn_name",
        "headers",
        "http_headers",
        "is_http",
        "memory_mb",
        "method",
        "request_url",
    )

    def __init__(
        self,
        headers: Headers,
        deadline: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.headers = headers
        self.call_id = headers.get("fn-call-id", "")
        self._deadline_ts = deadline
        self.deadline = None if deadline is None else datetime.fromtimestamp(deadline, _UTC)
        self.is_http = headers.get("fn-intent", "").lower() == "httprequest" or (
            "fn-http-method" in headers
        )
        self.http_headers = http_request_headers(headers, self.is_http)
        self.method = headers.get("fn-http-method", "POST") if self.is_http else "POST"
        self.request_url: str | None = headers.get("fn-http-request-url")
        self.content_type: str | None = headers.get("content-type")
        self.config: Mapping[str, str] = env
        self.app_id = env.get("FN_APP_ID")
        self.app_name = env.get("FN_APP_NAME")
        self.fn_id = env.get("FN_FN_ID")
        self.fn_name = env.get("FN_FN_NAME")
        memory = env.get("FN_MEMORY", "")
        self.memory_mb = int(memory) if memory.isdigit() else None

    def remaining(self) -> float | None:
        """Seconds left before the deadline (negative once past), or ``None``."""
        if self._deadline_ts is None:
            return None
        return self._deadline_ts - time.time()

    @property
    def query(self) -> dict[str, list[str]]:
        """The query parameters of :attr:`request_url` (empty if there is none)."""
        if not self.request_url:
            return {}
        return parse_qs(urlsplit(self.request_url).query, keep_blank_values=True)

    def __repr__(self) -> str:
        return f"<Context call_id={self.call_id!r} fn={self.fn_name or self.fn_id!r}>"

"""The http-stream contract's message mapping (design.md §2), free of I/O.

Requests: the client's headers minus hop-by-hop ones, plus ``Fn-Call-Id`` and
``Fn-Deadline``; triggers also get every client header ``K`` (except Content-Type) as
``Fn-Http-H-K`` plus ``Fn-Http-Method``, ``Fn-Http-Request-Url`` and
``Fn-Intent: httprequest``.

Responses: ``/invoke`` passes the function's headers through with status 200;
triggers unwrap ``Fn-Http-H-*`` and ``Fn-Http-Status``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import quote

from hotfn.body import BodyStream, Reader
from hotfn.fdk.http11 import HOP_BY_HOP

Headers = list[tuple[str, str]]
RawHeaders = list[tuple[bytes, bytes]]

# nginx acts on X-Accel-* response headers (internal redirects, buffering): only
# hotfn itself may send them (its spill to the next node), never a function.
_PROXY_CONTROL = (b"x-accel-redirect", b"x-accel-buffering", b"x-accel-limit-rate",
                  b"x-accel-expires", b"x-accel-charset")  # fmt: skip
HOP_BY_HOP_B = frozenset(h.encode() for h in HOP_BY_HOP) | frozenset(_PROXY_CONTROL)
_H_PREFIX = "Fn-Http-H-"
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_H_PREFIX_B = b"fn-http-h-"


@dataclass(slots=True)
class CallRequest:
    """One call as the agent receives it from an endpoint.

    ``headers`` are the client's, names lowercased (as ASGI gives them); ``url`` is
    the full request URL with its query; ``trigger`` says it came through an HTTP
    trigger (so the ``Fn-Http-*`` headers are added); ``max_response`` bounds the
    function's response body in bytes (0: no limit; the API sets it, the agent
    enforces it while reading). ``body`` is the whole request body, or only its
    first part when the client is still sending: ``rest`` then gives the others
    (None at the end; it raises if the client fails or passes the body limit) and
    ``length`` is the declared total (-1: not declared).
    """

    call_id: str
    method: str
    url: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    trigger: bool = False
    max_response: int = 0
    rest: Reader | None = None
    length: int = -1


@dataclass(slots=True)
class CallResult:
    """What the function answered: status, raw headers (names lowercased), body.

    A body that had not arrived whole when the head did is a ``stream`` instead
    (``body`` is then empty): the caller relays it and must close it.
    """

    status: int
    headers: RawHeaders = field(default_factory=list)
    body: bytes = b""
    stream: BodyStream | None = None


@lru_cache(maxsize=1024)  # per trigger call and client header: 0.8 µs, 0.06 remembered
def canonical(name: str) -> str:
    """``x-custom-header`` → ``X-Custom-Header`` (as Go's CanonicalHeaderKey)."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def request_headers(req: CallRequest, deadline: str) -> Headers:
    """The headers sent to the container with ``POST /call``."""
    out: Headers = []
    trigger = req.trigger
    for name, value in req.headers:
        if name in HOP_BY_HOP or name.startswith("fn-call-id") or name == "fn-deadline":
            continue
        out.append((name, value))
        if trigger and name != "content-type":
            out.append((_H_PREFIX + canonical(name), value))
    out.append(("Fn-Call-Id", req.call_id))
    out.append(("Fn-Deadline", deadline))
    if trigger:
        out.append(("Fn-Http-Method", req.method))
        # Percent-encoded: header values are Latin-1 on the wire, and a path may hold
        # any Unicode (already-encoded escapes and URL syntax are kept as they are).
        out.append(("Fn-Http-Request-Url", quote(req.url, safe=_URL_SAFE)))
        out.append(("Fn-Intent", "httprequest"))
    return out


def clean_response_headers(raw: Iterable[tuple[bytes, bytes]]) -> RawHeaders:
    """The function's headers minus hop-by-hop ones, names lowercased."""
    out: RawHeaders = []
    for name, value in raw:
        low = name.lower()
        if low not in HOP_BY_HOP_B:
            out.append((low, value))
    return out


def invoke_response_headers(result: CallResult, call_id: str) -> RawHeaders:
    """``/invoke``: the function's headers as they are, plus ``Fn-Call-Id``."""
    headers = [h for h in result.headers if h[0] != b"fn-call-id"]
    headers.append((b"fn-call-id", call_id.encode()))
    return headers


def trigger_response(result: CallResult, call_id: str) -> tuple[int, RawHeaders]:
    """``/t/...``: status from ``Fn-Http-Status`` (else 200), ``Fn-Http-H-*`` unwrapped,
    plus ``Content-Type`` and ``Fn-Call-Id``."""
    status = 200
    headers: RawHeaders = []
    content_type: bytes | None = None
    wrapped_type = False  # Fn-Http-H-Content-Type wins over the FDK's Content-Type
    for name, value in result.headers:
        if name.startswith(_H_PREFIX_B):
            stripped = name[len(_H_PREFIX_B) :]
            if stripped == b"content-type":
                content_type, wrapped_type = value, True
            elif stripped and stripped not in HOP_BY_HOP_B and stripped != b"fn-call-id":
                headers.append((stripped, value))
        elif name == b"content-type":
            if not wrapped_type:
                content_type = value
        elif name == b"fn-http-status":
            try:
                code = int(value)
            except ValueError:
                continue
            if 100 <= code <= 599:
                status = code
    if content_type is not None:
        headers.append((b"content-type", content_type))
    headers.append((b"fn-call-id", call_id.encode()))
    return status, headers

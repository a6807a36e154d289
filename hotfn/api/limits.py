"""Size limits of calls (``/invoke`` and ``/t``), checked inside the endpoints.

- Request body: ``Settings.max_call_body`` (6 MiB, as Fn), per fn or app the
  annotation ``hotfn.io/max-body-bytes`` → 413. A declared ``Content-Length`` is
  checked before anything is read; a chunked body is counted while it streams, so
  an oversized body is never held whole.
- Response body: ``Settings.max_call_response`` (6 MiB), per fn or app the annotation
  ``hotfn.io/max-response-bytes`` → 502 (Fn's ErrFunctionResponseTooBig: the
  function is at fault, not the caller). The agent enforces it while reading.
- Request headers: ``max_call_headers`` fields and ``max_call_header_bytes`` bytes
  of names and values → 431. uvicorn (httptools) accepts any number and size of
  headers, and the FDK refuses a head over 1 MiB by breaking the connection, which
  would cost the container: refusing them here keeps containers out of it.

No middleware: these run inside the call endpoints, a few microseconds per call.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect
from starlette.types import Receive

from hotfn.agent.shared import int_setting
from hotfn.config import Settings
from hotfn.errors import HeadersTooLarge, PayloadTooLarge
from hotfn.types import Target

ANNOTATION_MAX_BODY = "hotfn.io/max-body-bytes"
ANNOTATION_MAX_RESPONSE = "hotfn.io/max-response-bytes"
_CEILING = 1 << 30  # an annotation may ask for at most 1 GiB either way

RawHeaders = list[tuple[bytes, bytes]]
Headers = list[tuple[str, str]]


def body_limit(target: Target, settings: Settings) -> int:
    """Largest request body this fn accepts, in bytes."""
    value = target.annotation(ANNOTATION_MAX_BODY)
    if value is None:
        return settings.max_call_body
    return int_setting(value, settings.max_call_body, 0, _CEILING)


def response_limit(target: Target, settings: Settings) -> int:
    """Largest response body this fn may answer, in bytes."""
    value = target.annotation(ANNOTATION_MAX_RESPONSE)
    if value is None:
        return settings.max_call_response
    return int_setting(value, settings.max_call_response, 1, _CEILING)


def scan_headers(raw: RawHeaders, settings: Settings) -> tuple[Headers, int]:
    """The request's headers decoded, and its declared Content-Length (-1: none).

    Raises ``HeadersTooLarge`` (431) over the count or byte limits. One pass, as the
    endpoint needs the decoded list anyway.
    """
    if len(raw) > settings.max_call_headers:
        raise HeadersTooLarge(
            f"request has {len(raw)} header fields, over the server's limit of "
            f"{settings.max_call_headers} (HOTFN_MAX_CALL_HEADERS)"
        )
    size = 0
    length = -1
    out: Headers = []
    for key, value in raw:
        size += len(key) + len(value)
        if key == b"content-length" and value.isdigit():
            length = int(value)
        out.append((key.decode("latin-1"), value.decode("latin-1")))
    if size > settings.max_call_header_bytes:
        raise HeadersTooLarge(
            f"request header fields are {size} bytes, over the server's limit of "
            f"{settings.max_call_header_bytes} bytes (HOTFN_MAX_CALL_HEADER_BYTES)"
        )
    return out, length


def too_large(size: str, limit: int) -> PayloadTooLarge:
    """The 413 for a request body of ``size`` over the fn's ``limit``."""
    return PayloadTooLarge(
        f"request body is {size} bytes, over this fn's limit of {limit} bytes; raise it "
        f"with the annotation {ANNOTATION_MAX_BODY}"
    )


async def read_body(receive: Receive, declared: int, limit: int) -> bytes:
    """The request body, refusing (413) one over ``limit`` before holding it whole.

    ``declared`` is the Content-Length (-1 if the body is chunked). Raises Starlette's
    ``ClientDisconnect`` if the client goes away meanwhile.
    """
    if declared > limit:
        raise too_large(str(declared), limit)
    message = await receive()
    if message["type"] != "http.request":
        raise ClientDisconnect()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the usual case: one message
        if len(body) > limit:
            raise too_large(str(len(body)), limit)
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(f"more than {limit}", limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def read_detached_body(
    receive: Receive, declared: int, limit: int, settings: Settings
) -> bytes:
    """A detached call's body: it is stored until the call runs, so it is bounded by
    ``Settings.max_detached_body`` too (256 KiB, what Lambda allows for async events)."""
    cap = settings.max_detached_body
    if limit <= cap:
        return await read_body(receive, declared, limit)
    try:
        return await read_body(receive, declared, cap)
    except PayloadTooLarge:
        raise PayloadTooLarge(
            f"a detached call's body is at most {cap} bytes (HOTFN_MAX_DETACHED_BODY): it "
            "is stored until the call runs; send a larger one as a sync call"
        ) from None

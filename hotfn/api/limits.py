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

"""What a handler returns, and how it becomes the hot contract's 200 response."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hotfn.fdk.http11 import HOP_BY_HOP, check_header

if TYPE_CHECKING:
    # Only for the type checker: at run time these would subscript collections.abc
    # classes and use "|" between types, both Python 3.9/3.10+.
    HeaderValue = str | int | Iterable[str]
    HeadersIn = Mapping[str, HeaderValue] | Iterable[tuple[str, str]] | None
    BodyIn = bytes | bytearray | memoryview | str | dict[str, Any] | list[Any] | None
    Payload = bytes | bytearray | memoryview

# Framing headers describe the hop between the FDK and the agent; the FDK sets
# them itself (and Fn-Http-Status from ``status``), so a function's own are dropped.
_HOP_HEADERS = HOP_BY_HOP | {"fn-http-status"}
OCTET_STREAM = "application/octet-stream"
TEXT_PLAIN = "text/plain; charset=utf-8"
JSON = "application/json"


class Response:
    """A body with the HTTP status and headers meant for the trigger's caller.

    ``Response(b"created", status=201, headers={"Location": "/items/7"})``

    ``body`` is bytes, str (sent as UTF-8 ``text/plain``), a dict or list (sent as
    JSON) or ``None``. ``headers`` is a mapping (a value may be a list, for repeated
    headers) or a list of ``(name, value)`` pairs. The FDK delivers them the Fn way:
    ``Fn-Http-Status`` and ``Fn-Http-H-<name>`` on a 200 to the agent, which turns
    them back into a real status and headers for HTTP-trigger callers.
    """

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        body: BodyIn = b"",
        status: int = 200,
        headers: HeadersIn = None,
        content_type: str | None = None,
    ) -> None:
        self.body = body
        self.status = status
        self.headers = headers
        self.content_type = content_type

    def __repr__(self) -> str:
        return f"<Response status={self.status} body={type(self.body).__name__}>"


def encode_body(body: object) -> tuple[Payload, str]:
    """The bytes of a handler's result and the content type they imply."""
    if body is None:
        return b"", OCTET_STREAM
    if isinstance(body, (bytes, bytearray, memoryview)):
        return body, OCTET_STREAM
    if isinstance(body, str):
        return body.encode("utf-8"), TEXT_PLAIN
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode("utf-8"), JSON
    raise TypeError(
        f"a handler must return bytes, str, dict, list, None or Response, not {type(body).__name__}"
    )


def _header_items(headers: HeadersIn) -> Iterable[tuple[str, object]]:
    if headers is None:
        return
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if isinstance(value, (list, tuple)):
                for item in value:
                    yield name, item
            else:
                yield name, value
    else:
        yield from headers


def contract_headers(
    status: int, headers: HeadersIn, content_type: str | None, default_type: str
) -> list[tuple[str, str]]:
    """The hot contract's 200 headers that carry ``status`` and ``headers`` to an
    HTTP-trigger caller: ``Content-Type`` as itself, every other header as
    ``Fn-Http-H-<name>`` and the status as ``Fn-Http-Status`` (as Fn's FDKs do).

    ``content_type`` wins over a ``Content-Type`` in ``headers``, which wins over
    ``default_type``. ``ValueError`` for an invalid status or header.
    """
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"invalid HTTP status {status!r}")
    out = []
    for raw_name, raw_value in _header_items(headers):
        name, value = check_header(str(raw_name), raw_value)
        lower = name.lower()
        if lower == "content-type":
            content_type = content_type or value
        elif lower in _HOP_HEADERS:
            continue
        elif lower.startswith("fn-http-h-"):
            out.append((name, value))
        else:
            out.append(("Fn-Http-H-" + name, value))
    if content_type is not None:
        content_type = check_header("Content-Type", content_type)[1]
    out.append(("Content-Type", content_type or default_type))
    out.append(("Fn-Http-Status", str(status)))
    return out


def render(result: object) -> tuple[list[tuple[str, str]], Payload]:
    """The contract's headers and body for a handler's result.

    ``TypeError``/``ValueError`` if the result cannot be sent (the caller answers
    502 and says why).
    """
    if isinstance(result, Response):
        payload, implied_type = encode_body(result.body)
        headers = contract_headers(result.status, result.headers, result.content_type, implied_type)
        return headers, payload
    payload, implied_type = encode_body(result)
    return contract_headers(200, None, None, implied_type), payload

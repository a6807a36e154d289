"""The one place where exceptions become HTTP responses.

Every error body is ``{"message": "..."}`` with a JSON content type. Messages say what
to fix; nothing internal (no traceback, no SQL) ever reaches a caller.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from hotfn.api.models import IDLE_TIMEOUT_MAX, MEMORY_MAX, RULE_ERROR, TIMEOUT_MAX
from hotfn.errors import HotfnError

log = logging.getLogger("hotfn.api")

# What a pattern mismatch means, by field, in words a user can act on.
PATTERN_HINTS = {
    "source": "must start with '/' and contain no whitespace, '?' or '#' (e.g. \"/hello\")",
    "image": "is not a valid image reference: lowercase repository, optional registry, "
    'tag and digest (e.g. "hello:0.0.1")',
    "config key": "is not a valid environment variable name: use ASCII letters, digits, "
    "'_', '.' and '-', not starting with a digit",
    "config": "must not contain NUL bytes",
    "annotations key": "must be printable ASCII without whitespace",
    "cursor": "must be the next_cursor of the previous page",
}

RANGES = {
    "memory": (1, MEMORY_MAX, "MB"),
    "timeout": (1, TIMEOUT_MAX, "seconds"),
    "idle_timeout": (1, IDLE_TIMEOUT_MAX, "seconds"),
}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def describe_validation(errors: Sequence[Any]) -> str:
    """Turn pydantic's error list into one readable sentence per problem."""
    parts = []
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc)
        kind = err.get("type", "")
        msg = str(err.get("msg", "invalid"))
        if kind == "json_invalid":
            parts.append(f"request body is not valid JSON ({err.get('ctx', {}).get('error', msg)})")
        elif kind == RULE_ERROR:  # says what to fix as it stands (names, ids)
            parts.append(msg)
        elif kind == "extra_forbidden":
            parts.append(f"unknown field {where!r}")
        elif kind == "missing" and not where:
            parts.append("request body is required: a JSON object")
        elif not where and kind in ("model_attributes_type", "dict_type", "model_type"):
            parts.append("request body must be a JSON object")
        elif kind == "string_pattern_mismatch":
            parts.append(_pattern_hint(loc, err.get("input")))
        elif kind in ("less_than_equal", "greater_than_equal") and where in RANGES:
            lo, hi, unit = RANGES[where]
            parts.append(f"{where} must be between {lo} and {hi} ({unit})")
        else:
            msg = msg.removeprefix("Value error, ")
            parts.append(f"{where}: {msg}" if where else msg)
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more problems")
    return "; ".join(parts)


def _pattern_hint(loc: list[str], value: Any) -> str:
    shown = repr(value)[:80]
    if "[key]" in loc:
        field = f"{loc[0]} key"
        return f"{field} {shown} {PATTERN_HINTS.get(field, 'is not valid')}"
    field = loc[0] if loc else "value"
    hint = PATTERN_HINTS.get(field, "is not valid")
    return f"{'.'.join(loc)} {shown} {hint}"


async def _hotfn_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HotfnError)
    if exc.status >= 500:
        log.info("call error %s: %s", exc.status, exc.message)
    return error_response(exc.status, exc.message, exc.headers())


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, describe_validation(exc.errors()))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "error"
    headers = dict(exc.headers or {})
    if exc.status_code == 400 and message == "There was an error parsing the body":
        message = "request body could not be read: send a UTF-8 JSON object"
    if exc.status_code == 405:
        # Starlette lists only the methods of the first route matching the path;
        # FastAPI makes one route per method, so gather them all.
        allowed = _allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        message = f"method {request.method} not allowed here; use {', '.join(allowed)}"
    return error_response(exc.status_code, message, headers)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    # Ask each route whether it would take the request with another method (the
    # routes' own matching: included routers are nested, not a flat list of paths).
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return error_response(500, "internal server error; the server log has details")


def install(app: FastAPI) -> None:
    app.add_exception_handler(HotfnError, _hotfn_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

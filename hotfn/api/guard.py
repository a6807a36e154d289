"""Checks every management request gets before routing.

- A NUL byte in the path or query is refused (400): no name or id contains one, and
  PostgreSQL text cannot hold one.
- A /v2 body over ``Settings.max_api_body`` is refused (413), whether it declares its
  length or streams chunks, before it is read into memory.
- Every /v2 body is JSON whatever its Content-Type, as in Fn: ``curl -d '{...}'``
  sends form encoding and must still work.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotfn.api.errors import error_response


def _too_large(limit: int) -> HTTPException:
    # An HTTPException, not a HotfnError: FastAPI re-raises those from body reading
    # (anything else there becomes a generic 400).
    return HTTPException(413, f"request body is over the limit of {limit} bytes for the /v2 API")


class RequestGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            response = error_response(400, "the URL must not contain NUL bytes (%00)")
            await response(scope, receive, send)
            return
        if scope["method"] in ("POST", "PUT") and scope["path"].startswith("/v2/"):
            limit: int = scope["app"].state.runtime.settings.max_api_body
            headers = []
            for key, value in scope["headers"]:
                if key == b"content-length" and value.isdigit() and int(value) > limit:
                    exc = _too_large(limit)
                    await error_response(exc.status_code, exc.detail)(scope, receive, send)
                    return
                if key != b"content-type":
                    headers.append((key, value))
            headers.append((b"content-type", b"application/json"))
            scope = {**scope, "headers": headers}
            receive = _counting(receive, limit)
        await self.app(scope, receive, send)


def _counting(receive: Receive, limit: int) -> Receive:
    """Stop a chunked body at the limit: the error surfaces as a 413 from the route."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(limit)
        return message

    return wrapped

"""API tokens.

With a token configured (``hotfn start --token`` / ``HOTFN_TOKEN``), every /v2 route
and ``/metrics`` need ``Authorization: Bearer <token>``; ``/``, ``/version`` and the
OpenAPI document stay open. Invoke and trigger routes are open unless the app (or
fn) carries the annotation ``hotfn.io/invoke-auth: "token"`` — checked on the call
path with :func:`call_allowed`. Comparisons are constant-time.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from hotfn.api.errors import error_response
from hotfn.types import Target

ANNOTATION_INVOKE_AUTH = "hotfn.io/invoke-auth"
_PROTECTED = ("/v2/", "/metrics")


def bearer_ok(headers: Iterable[tuple[bytes, bytes]], token: str) -> bool:
    """Whether the request's Authorization header carries ``token``."""
    expected = b"Bearer " + token.encode()
    for name, value in headers:
        if name == b"authorization":
            return hmac.compare_digest(value.strip(), expected)
    return False


def call_allowed(target: Target, headers: Iterable[tuple[bytes, bytes]], token: str | None) -> bool:
    """Invoke/trigger access: open unless the app or fn asks for the token."""
    if not token or target.annotation(ANNOTATION_INVOKE_AUTH) != "token":
        return True
    return bearer_ok(headers, token)


class TokenAuth:
    """Refuse management requests without the server's token (401)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(_PROTECTED):
            token = scope["app"].state.runtime.settings.token
            if token and not bearer_ok(scope["headers"], token):
                response = error_response(
                    401,
                    "this server needs an API token: send 'Authorization: Bearer <token>' "
                    "(the hotfn CLI reads HOTFN_TOKEN)",
                    {"WWW-Authenticate": 'Bearer realm="hotfn"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

"""The dashboard at ``/ui``: static HTML, CSS and vanilla JS served by hotfn itself.

The files in ``static/`` need no build step; the page reads the JSON API (``/v2``)
by polling, with the server's token if it has one (kept in the browser's
sessionStorage only). The files themselves hold no data, so they are served without
the token, like ``/openapi.json``; ``/ui/session`` tells the page whether to ask
for one, so a token-protected server's page does not start with a failed request.
Dashboard traffic only reads the API: it never takes the call path.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotfn import __version__

STATIC = Path(__file__).resolve().parent / "static"
# The page loads only its own files and talks only to this server.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", _CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]


class _Hardened:
    """Security headers on every file of the page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Serve the dashboard at ``/ui/`` (``/ui`` redirects there)."""

    @app.get("/ui", include_in_schema=False)
    async def ui_root() -> Response:
        return RedirectResponse("/ui/", status_code=307)

    @app.get("/ui/session", include_in_schema=False)
    async def ui_session(request: Request) -> Response:
        token = request.app.state.runtime.settings.token
        return JSONResponse({"token_required": bool(token), "version": __version__})

    app.mount("/ui", _Hardened(StaticFiles(directory=STATIC, html=True)), name="ui")

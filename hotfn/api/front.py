"""The ASGI front: calls go straight to their endpoints, everything else to FastAPI.

A hot call is worth ~0.1 ms of server CPU in all, and FastAPI (0.16x) puts more
than that in front of any route: its telemetry middleware, its body-limit
middleware, Starlette's middleware stack and a router that tries every route in
order. :class:`HotfnApp` is the FastAPI app itself (tests and the lifespan see one
object), answering ``/invoke/{fn_id}`` and ``/t/{app}/{source}`` before any of
that (:func:`hotfn.api.invoke.fast_paths`), with what those layers still owe a
call: ``scope["app"]``, and a crash turned into a 500 and re-raised for the server
to log, as Starlette's ``ServerErrorMiddleware`` does. The management API's guards
(NUL bytes, /v2 body limits, the API token) are for /v2 routes; calls check their
own limits and token inside the endpoints.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from hotfn.api import invoke
from hotfn.server_state import Runtime


class HotfnApp(FastAPI):
    """FastAPI with the call paths answered first (see the module docstring)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(("/invoke/", "/t/")):
            # The state's dict itself: ``state.runtime`` first fails the normal
            # attribute lookup (Starlette's State answers in __getattr__), and CPython
            # formats an AttributeError message for that on every call.
            runtime: Runtime | None = self.state._state.get("runtime")
            if runtime is not None:
                scope["app"] = self
                if await invoke.serve_call(runtime, scope, receive, send):
                    return
        await super().__call__(scope, receive, send)

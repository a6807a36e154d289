"""The ASGI application: routes, error mapping, OpenAPI document.

``create_app`` builds the app around a lifespan that owns the runtime (database,
cache, agent); tests pass their own lifespan or driver.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from hotfn import __version__, ui
from hotfn.api import apps, errors, fns, stats, triggers
from hotfn.api.auth import TokenAuth
from hotfn.api.front import HotfnApp
from hotfn.api.guard import RequestGuard
from hotfn.api.metering import Metering
from hotfn.api.models import Version
from hotfn.metrics import REGISTRY

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(lifespan: Lifespan) -> FastAPI:
    app = HotfnApp(
        title="hotfn",
        version=__version__,
        description="Fn-compatible functions platform (REST API v2) that keeps containers hot.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    errors.install(app)
    app.add_middleware(RequestGuard)
    app.add_middleware(TokenAuth)
    app.add_middleware(Metering)

    @app.get("/", tags=["server"], summary="Ping")
    async def ping() -> dict[str, str]:
        return {"goto": "https://github.com/fnproject/fn", "hello": "world!"}

    @app.get("/version", tags=["server"], response_model=Version)
    async def version() -> dict[str, str]:
        return {"version": __version__}

    @app.get(
        "/metrics",
        tags=["server"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    for router in (apps.router, fns.router, triggers.router, stats.router):
        app.include_router(router)
    _install_calls(app)
    ui.install(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _install_calls(app: FastAPI) -> None:
    """Invoke, trigger and call-record routes (the agent's side of the API)."""
    from hotfn.api import call_history, invoke

    app.include_router(call_history.router)
    # HotfnApp answers these paths before FastAPI's middleware and routing; the routes
    # remain for what it leaves (e.g. 405 for a method no trigger takes).
    app.add_route("/invoke/{fn_id}", invoke.invoke, methods=["POST"], include_in_schema=False)
    app.add_route(
        "/t/{app_name}/{source:path}",
        invoke.trigger,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        include_in_schema=False,
    )


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, corrected to what hotfn really answers: validation errors
    are 400 (not 422), and the raw invoke/trigger routes are described."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    bad_request = {
        "description": "Invalid input",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for path in schema["paths"].values():
        for op in path.values():
            op.get("responses", {}).pop("422", None)
            # Any route refuses malformed URLs (e.g. NUL bytes) with 400.
            op.setdefault("responses", {}).setdefault("400", bad_request)
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    schema["paths"].update(_call_paths())
    _key_patterns(schema)
    app.openapi_schema = schema
    return schema


def _key_patterns(node: Any) -> None:
    """Pydantic states a dict's key pattern as ``patternProperties``, which lets keys
    that do not match through; the server rejects them, so say ``propertyNames``."""
    if isinstance(node, dict):
        patterns = node.get("patternProperties")
        if isinstance(patterns, dict) and len(patterns) == 1:
            ((pattern, values),) = patterns.items()
            node.pop("patternProperties")
            node["additionalProperties"] = values
            node.setdefault("propertyNames", {})["pattern"] = pattern
        for child in node.values():
            _key_patterns(child)
    elif isinstance(node, list):
        for child in node:
            _key_patterns(child)


def _call_paths() -> dict[str, Any]:
    err: dict[str, Any] = {
        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
    }
    body: dict[str, Any] = {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}
    results: dict[str, Any] = {
        "200": {"description": "The function's response", "content": {"*/*": {}}},
        "202": {"description": "Accepted (Fn-Invoke-Type: detached)"},
        "400": {"description": "Invalid input", "content": err},
        "404": {"description": "Fn or trigger not found", "content": err},
        "413": {"description": "Body too large", "content": err},
        "431": {"description": "Too many or too large request headers", "content": err},
        "502": {"description": "The function failed", "content": err},
        "503": {"description": "Too busy or engine down (Retry-After)", "content": err},
        "504": {"description": "Timed out", "content": err},
    }
    invoke = {
        "summary": "Call a fn",
        "tags": ["invoke"],
        "parameters": [
            {"name": "fn_id", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "Fn-Invoke-Type", "in": "header", "schema": {"enum": ["sync", "detached"]}},
        ],
        "requestBody": body,
        "responses": results,
    }
    trig_params = [
        {"name": "app_name", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "source", "in": "path", "required": True, "schema": {"type": "string"}},
    ]
    trig: dict[str, Any] = {
        method: {
            "summary": "Call the fn behind an HTTP trigger",
            "tags": ["invoke"],
            "parameters": trig_params,
            "responses": {
                **results,
                "default": {"description": "Status set by the function", "content": {"*/*": {}}},
            },
            **({"requestBody": body} if method in ("post", "put", "patch") else {}),
        }
        for method in ("get", "post", "put", "patch", "delete")
    }
    return {"/invoke/{fn_id}": {"post": invoke}, "/t/{app_name}/{source}": trig}

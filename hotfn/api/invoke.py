"""``POST /invoke/{fn_id}`` and ``ANY /t/{app_name}/{source}``: calls into functions.

Plain Starlette endpoints (not FastAPI routes): no validation or dependency layer on
the hot path. Configuration comes from the in-memory ``runtime.cache`` only, never
the database. Every response carries ``Fn-Call-Id``, error responses too.

Mapping (design.md §2): ``/invoke`` answers 200 with the function's body and headers;
triggers take the status from ``Fn-Http-Status`` and unwrap ``Fn-Http-H-*``. Errors
are ``{"message": ...}`` with the status of the ``HotfnError`` (502 function failed,
504 timed out, 503 + Retry-After too busy, ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hotfn.agent.call_log import new_call_id
from hotfn.agent.httpstream import (
    CallRequest,
    CallResult,
    RawHeaders,
    invoke_response_headers,
    trigger_response,
)
from hotfn.api.auth import call_allowed
from hotfn.api.drain import call_tasks
from hotfn.api.errors import error_response
from hotfn.api.limits import body_limit, read_detached_body, response_limit, scan_headers
from hotfn.api.relay import RequestRest, StreamedResponse, idle_bounded, read_start
from hotfn.errors import HotfnError, ShuttingDown, Unauthorized
from hotfn.server_state import Runtime
from hotfn.types import Target

# Statuses whose responses must not have a body (RFC 9110).
_NO_BODY = frozenset({204, 304})


class RawResponse(Response):
    """A response built straight from raw header pairs (no re-encoding per call)."""

    def __init__(self, body: bytes, status: int, headers: RawHeaders) -> None:
        self.status_code = status
        self.background = None
        if status in _NO_BODY or 100 <= status < 200:
            body = b""
            headers = [h for h in headers if h[0] != b"content-type"]
        else:
            headers.append((b"content-length", str(len(body)).encode()))
        self.body = body
        self.raw_headers = headers


def _error(exc: HotfnError, call_id: str, runtime: Runtime | None) -> Response:
    headers = exc.headers()
    headers["Fn-Call-Id"] = call_id
    if exc.status == 503 and runtime is not None and runtime.settings.spill_to:
        # hotfn's own 503s come before any function ran: nginx may run it elsewhere.
        headers["X-Accel-Redirect"] = runtime.settings.spill_to
    return error_response(exc.status, exc.message, headers)


def _check_access(runtime: Runtime, target: Target, request: Request) -> None:
    token = runtime.settings.token
    if token and not call_allowed(target, request.scope["headers"], token):
        raise Unauthorized(
            "this fn's app requires the API token for calls: send 'Authorization: Bearer <token>'"
        )


async def invoke(request: Request) -> Response:
    """``POST /invoke/{fn_id}``; ``Fn-Invoke-Type: detached`` answers 202 once the
    call is stored (body up to ``max_detached_body``, 256 KiB)."""
    runtime: Runtime = request.app.state.runtime
    call_id = new_call_id()
    try:
        settings = runtime.settings
        headers, length = scan_headers(request.scope["headers"], settings)
        target = await runtime.cache.target(request.path_params["fn_id"])
        _check_access(runtime, target, request)
        detached = request.headers.get("fn-invoke-type") == "detached"
        limit = body_limit(target, settings)
        idle_s = settings.client_idle_timeout
        rest: RequestRest | None = None
        if detached:  # stored whole before the 202, so bounded by the detached limit
            receive = idle_bounded(request.receive, idle_s)
            body = await read_detached_body(receive, length, limit, settings)
        else:
            body, rest = await read_start(request.receive, length, limit, idle_s)
        # The URL is only sent to default-format functions (FN_REQUEST_URL); building
        # it costs more than the rest of this function.
        url = str(request.url) if target.fn.format == "default" else ""
        req = CallRequest(
            call_id, request.method, url, headers, body, False, response_limit(target, settings)
        )
        if detached:
            # 202 only once the call is committed to the datastore (agent/detached.py).
            await runtime.dispatcher.enqueue(target, req)
            return RawResponse(b"", 202, [(b"fn-call-id", call_id.encode())])
        if rest is not None:
            req.rest, req.length = rest, length
        result = await runtime.agent.call(target, req)
        out_headers = invoke_response_headers(result, call_id)
        if result.stream is not None:
            return await _streamed(200, out_headers, result, idle_s, rest, call_id, runtime)
    except HotfnError as exc:
        return _error(exc, call_id, runtime)
    return RawResponse(result.body, 200, out_headers)


async def _streamed(
    status: int,
    headers: RawHeaders,
    result: CallResult,
    idle_s: float,
    rest: RequestRest | None,
    call_id: str,
    runtime: Runtime,
    head_only: bool = False,
) -> Response:
    """The response for an answer still streaming: its first piece is read here, so
    a failure before any byte is sent (over the limit, say) is a clean error."""
    stream = result.stream
    assert stream is not None
    try:
        first = await stream.read()
        if head_only:  # HEAD: the body is read (the function's limit holds) and dropped
            while first is not None:
                first = await stream.read()
    except HotfnError as exc:
        stream.close(exc.message)
        return _error(exc, call_id, runtime)
    except BaseException:
        stream.close("interrupted")
        raise
    if first is None:  # it ended at once after all
        stream.close(None)
        return RawResponse(b"", status, headers)
    return StreamedResponse(status, headers, stream, first, idle_s, rest)


async def trigger(request: Request) -> Response:
    """``/t/{app_name}/{source}``, any method: the fn behind an HTTP trigger."""
    runtime: Runtime = request.app.state.runtime
    call_id = new_call_id()
    try:
        settings = runtime.settings
        headers, length = scan_headers(request.scope["headers"], settings)
        source = "/" + request.path_params["source"]
        target, _trig = await runtime.cache.trigger(request.path_params["app_name"], source)
        _check_access(runtime, target, request)
        idle_s = settings.client_idle_timeout
        body, rest = await read_start(request.receive, length, body_limit(target, settings), idle_s)
        url = str(request.url)
        req = CallRequest(
            call_id, request.method, url, headers, body, True, response_limit(target, settings)
        )
        if rest is not None:
            req.rest, req.length = rest, length
        result = await runtime.agent.call(target, req)
        status, out_headers = trigger_response(result, call_id)
        if result.stream is not None:
            head = request.method == "HEAD" or status in _NO_BODY or 100 <= status < 200
            return await _streamed(
                status, out_headers, result, idle_s, rest, call_id, runtime, head
            )
    except HotfnError as exc:
        return _error(exc, call_id, runtime)
    body = b"" if request.method == "HEAD" else result.body
    return RawResponse(body, status, out_headers)


_TRIGGER_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class FastPaths:
    """ASGI middleware sending ``/invoke/{fn_id}`` and ``/t/{app}/{source}`` straight
    to :func:`invoke` and :func:`trigger`.

    FastAPI's router tries every route in order with its own per-route machinery;
    measured here that costs ~50 µs per call, a sixth of hotfn's whole per-call
    budget. Everything else passes through untouched. Install it outermost among
    user middleware (``app.add_middleware(FastPaths)`` after the others), so
    Starlette's ``ServerErrorMiddleware`` still turns a crash into a 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            endpoint = None
            if path.startswith("/invoke/"):
                fn_id = path[8:]
                if fn_id and "/" not in fn_id:
                    if scope["method"] != "POST":
                        response = error_response(405, "method not allowed", {"Allow": "POST"})
                        await response(scope, receive, send)
                        return
                    scope["path_params"] = {"fn_id": fn_id}
                    endpoint = invoke
            elif path.startswith("/t/"):
                app_name, sep, source = path[3:].partition("/")
                if app_name and sep and scope["method"] in _TRIGGER_METHODS:
                    scope["path_params"] = {"app_name": app_name, "source": source}
                    endpoint = trigger
            if endpoint is not None:
                await _serve_call(endpoint, scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _serve_call(
    endpoint: Callable[[Request], Awaitable[Response]], scope: Scope, receive: Receive, send: Send
) -> None:
    """Run a call endpoint as a task the shutdown can cut (``hotfn.api.drain``): cut
    before its answer, it answers 503; cut while streaming, the stream ends cut."""
    tasks = call_tasks(scope["app"])
    task = tasks.track()
    try:
        try:
            response = await endpoint(Request(scope, receive))
        except asyncio.CancelledError:
            if not tasks.cutting or task is None:
                raise
            task.uncancel()
            response = _error(ShuttingDown("the server is shutting down: the call was stopped "
                                           "after the drain timeout"), "", None)  # fmt: skip
        try:
            await response(scope, receive, send)
        except asyncio.CancelledError:
            if not tasks.cutting or task is None:
                raise
            task.uncancel()
    finally:
        tasks.tasks.discard(task)

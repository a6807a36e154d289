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
from collections.abc import Coroutine
from typing import Any

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

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
from hotfn.api.errors import error_response, log
from hotfn.api.limits import body_limit, response_limit, scan_headers
from hotfn.api.relay import RequestRest, StreamedResponse, read_detached_body, read_start
from hotfn.errors import HotfnError, ShuttingDown, Unauthorized
from hotfn.server_state import Runtime
from hotfn.types import Target

# Statuses whose responses must not have a body (RFC 9110).
_NO_BODY = frozenset({204, 304})

# Request URLs by what Starlette builds them from: ~3.6 µs per URL (its Host header
# parsing and urllib's SplitResult), paid by every trigger call. Bounded: cleared
# when full (distinct query strings would otherwise grow it).
_URLS: dict[tuple[object, ...], str] = {}
_URLS_MAX = 1024


def request_url(scope: Scope) -> str:
    """``str(starlette.datastructures.URL(scope=scope))``, remembered."""
    host = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
            break
    server = scope.get("server")
    if server is not None and type(server) is not tuple:  # a list, from some servers
        server = tuple(server)
    key = (scope.get("scheme"), server, scope.get("root_path"), scope["path"],
           scope.get("query_string"), host)  # fmt: skip
    url = _URLS.get(key)
    if url is None:
        if len(_URLS) >= _URLS_MAX:
            _URLS.clear()
        url = _URLS[key] = str(URL(scope=scope))
    return url


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


def _check_access(runtime: Runtime, target: Target, scope: Scope) -> None:
    token = runtime.settings.token
    if token and not call_allowed(target, scope["headers"], token):
        raise Unauthorized(
            "this fn's app requires the API token for calls: send 'Authorization: Bearer <token>'"
        )


def _invoke_type(raw: RawHeaders) -> bytes:
    for name, value in raw:
        if name == b"fn-invoke-type":
            return value
    return b""


async def invoke_call(runtime: Runtime, scope: Scope, receive: Receive, fn_id: str) -> Response:
    """``POST /invoke/{fn_id}``; ``Fn-Invoke-Type: detached`` answers 202 once the
    call is stored (body up to ``max_detached_body``, 256 KiB).

    Raw ASGI (no ``Request`` object): the endpoint reads the scope once, itself."""
    call_id = new_call_id()
    try:
        settings = runtime.settings
        raw = scope["headers"]
        headers, length = scan_headers(raw, settings)
        target = await runtime.cache.target(fn_id)
        _check_access(runtime, target, scope)
        detached = _invoke_type(raw) == b"detached"
        limit = body_limit(target, settings)
        idle_s = settings.client_idle_timeout
        rest: RequestRest | None = None
        if detached:  # stored whole before the 202, so bounded by the detached limit
            body = await read_detached_body(receive, length, limit, idle_s, settings)
        else:
            body, rest = await read_start(receive, length, limit, idle_s)
        # The URL is only sent to default-format functions (FN_REQUEST_URL); building
        # it costs more than the rest of this function.
        url = request_url(scope) if target.fn.format == "default" else ""
        req = CallRequest(
            call_id, scope["method"], url, headers, body, False, response_limit(target, settings)
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


async def trigger_call(
    runtime: Runtime, scope: Scope, receive: Receive, app_name: str, source: str
) -> Response:
    """``/t/{app_name}/{source}``, any method: the fn behind an HTTP trigger."""
    call_id = new_call_id()
    method: str = scope["method"]
    try:
        settings = runtime.settings
        headers, length = scan_headers(scope["headers"], settings)
        target, _trig = await runtime.cache.trigger(app_name, "/" + source)
        _check_access(runtime, target, scope)
        idle_s = settings.client_idle_timeout
        body, rest = await read_start(receive, length, body_limit(target, settings), idle_s)
        url = request_url(scope)
        req = CallRequest(
            call_id, method, url, headers, body, True, response_limit(target, settings)
        )
        if rest is not None:
            req.rest, req.length = rest, length
        result = await runtime.agent.call(target, req)
        status, out_headers = trigger_response(result, call_id)
        if result.stream is not None:
            head = method == "HEAD" or status in _NO_BODY or 100 <= status < 200
            return await _streamed(
                status, out_headers, result, idle_s, rest, call_id, runtime, head
            )
    except HotfnError as exc:
        return _error(exc, call_id, runtime)
    body = b"" if method == "HEAD" else result.body
    return RawResponse(body, status, out_headers)


async def invoke(request: Request) -> Response:
    """The route form of :func:`invoke_call` (the front answers these paths first)."""
    runtime: Runtime = request.app.state.runtime
    return await invoke_call(runtime, request.scope, request.receive, request.path_params["fn_id"])


async def trigger(request: Request) -> Response:
    """The route form of :func:`trigger_call`."""
    runtime: Runtime = request.app.state.runtime
    params = request.path_params
    return await trigger_call(
        runtime, request.scope, request.receive, params["app_name"], params["source"]
    )


_TRIGGER_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


async def serve_call(runtime: Runtime, scope: Scope, receive: Receive, send: Send) -> bool:
    """Answer ``/invoke/{fn_id}`` or ``/t/{app}/{source}``; False for any other
    request (it goes through FastAPI's routing).

    FastAPI's router tries every route in order with its own per-route machinery, and
    FastAPI 0.16x wraps every request in its telemetry and body-limit middleware:
    :class:`hotfn.api.front.HotfnApp` calls this first, before any of it.
    """
    path: str = scope["path"]
    call: Coroutine[Any, Any, Response] | None = None
    if path.startswith("/invoke/"):
        fn_id = path[8:]
        if fn_id and "/" not in fn_id:
            if scope["method"] != "POST":
                response = error_response(405, "method not allowed", {"Allow": "POST"})
                await response(scope, receive, send)
                return True
            call = invoke_call(runtime, scope, receive, fn_id)
    elif path.startswith("/t/"):
        app_name, sep, source = path[3:].partition("/")
        if app_name and sep and scope["method"] in _TRIGGER_METHODS:
            call = trigger_call(runtime, scope, receive, app_name, source)
    if call is None:
        return False
    await _serve_call(call, scope, receive, send)
    return True


async def _serve_call(
    call: Coroutine[Any, Any, Response], scope: Scope, receive: Receive, send: Send
) -> None:
    """Run a call endpoint as a task the shutdown can cut (``hotfn.api.drain``): cut
    before its answer, it answers 503; cut while streaming, the stream ends cut. A
    crash before the answer is a 500 (re-raised for the server to log), as
    Starlette's ``ServerErrorMiddleware`` would make it."""
    tasks = call_tasks(scope["app"])
    task = tasks.track()
    try:
        try:
            response = await call
        except asyncio.CancelledError:
            if not tasks.cutting or task is None:
                raise
            task.uncancel()
            response = _error(ShuttingDown("the server is shutting down: the call was stopped "
                                           "after the drain timeout"), "", None)  # fmt: skip
        except Exception:
            # The endpoints answer every HotfnError themselves: this is a bug.
            log.exception("unexpected error")
            await error_response(500, "internal server error; the server log has details")(
                scope, receive, send
            )
            raise
        try:
            await response(scope, receive, send)
        except asyncio.CancelledError:
            if not tasks.cutting or task is None:
                raise
            task.uncancel()
    finally:
        tasks.tasks.discard(task)

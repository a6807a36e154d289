"""Runs a Python handler for each call: deadline, errors, and the reply's shape."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import os
import platform
import sys
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from hotfn import __version__
from hotfn.fdk import server
from hotfn.fdk.context import Context, parse_deadline
from hotfn.fdk.response import render

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from hotfn.fdk.server import Exchange

    Handler = Callable[[Context, bytes], Any]

FDK_VERSION = f"hotfn-fdk-python/{__version__}"
FDK_HEADERS = [
    ("Fn-Fdk-Version", FDK_VERSION),
    ("Fn-Fdk-Runtime", f"python/{platform.python_version()}"),
]
_ERROR_TYPE = server.JSON_TYPE


class _DeadlinePassed(Exception):
    pass


def _is_stream(result: object) -> bool:
    """A generator (or async generator): its pieces are streamed as they come."""
    return inspect.isgenerator(result) or inspect.isasyncgen(result)


async def _anext(pieces: Any, end: object) -> Any:
    try:
        return await pieces.__anext__()
    except StopAsyncIteration:
        return end


def _say(message: str) -> None:
    print(f"hotfn.fdk: {message}", file=sys.stderr, flush=True)


# Frames of the FDK and of the machinery that ran the handler: not the user's concern.
_MACHINERY = tuple(
    os.path.dirname(m.__file__ or "") + os.sep
    for m in (sys.modules[__name__], asyncio, concurrent.futures)
)


def print_user_traceback(exc: BaseException) -> None:
    """Print ``exc``'s traceback to stderr from the first frame outside the FDK."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_MACHINERY):
            break
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)
    sys.stderr.flush()


def _retrieve(future: asyncio.Future[Any]) -> None:
    # A handler abandoned at its deadline may still fail later: report it here
    # rather than letting asyncio log "exception was never retrieved".
    if not future.cancelled() and future.exception() is not None:
        exc = future.exception()
        assert exc is not None
        _say("a handler that passed its deadline later raised:")
        print_user_traceback(exc)


class Runner:
    """The :data:`~hotfn.fdk.server.CallHandler` that runs one Python handler.

    ``async def`` handlers run on the event loop; plain functions run in a thread
    pool so a slow one never stalls accepting or reading the next request. The
    deadline in ``Fn-Deadline`` is enforced: past it the call is answered 504 (an
    async handler is cancelled; a thread cannot be stopped, so it finishes unseen).
    """

    def __init__(
        self, handler: Handler, *, env: Mapping[str, str] | None = None, max_threads: int = 8
    ) -> None:
        self._handler = handler
        self._env = os.environ if env is None else env
        self._is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            type(handler).__call__  # an object whose __call__ is async
        )
        self._executor = ThreadPoolExecutor(max_threads, thread_name_prefix="fdk-handler")
        self._threads: set[Future[Any]] = set()

    @property
    def busy_threads(self) -> int:
        """Handler threads still running (e.g. past their deadline)."""
        return sum(1 for f in list(self._threads) if not f.done())

    async def __call__(self, exchange: Exchange) -> None:
        headers = exchange.head.headers
        deadline = parse_deadline(headers.get("fn-deadline"))
        data = await exchange.body.read()
        ctx = Context(headers, deadline, self._env)
        try:
            result = await self._run(ctx, data, deadline)
        except _DeadlinePassed:
            _say(f"call {ctx.call_id} passed its deadline: 504")
            body = server.error_body("function timed out (deadline passed)")
            await exchange.respond(504, [_ERROR_TYPE], body)
            return
        except Exception as exc:
            _say(f"call {ctx.call_id} failed, the handler raised:")
            print_user_traceback(exc)
            text = f"function failed: {type(exc).__name__}: {exc}"[:1000]
            await exchange.respond(502, [_ERROR_TYPE], server.error_body(text))
            return
        if _is_stream(result):
            await self._stream(exchange, ctx, result, deadline)
            return
        try:
            reply_headers, payload = render(result)
        except (TypeError, ValueError) as exc:
            _say(f"call {ctx.call_id}: {exc}")
            await exchange.respond(502, [_ERROR_TYPE], server.error_body(str(exc)))
            return
        await exchange.respond(200, reply_headers, payload)

    async def _stream(
        self, exchange: Exchange, ctx: Context, pieces: Any, deadline: float | None
    ) -> None:
        """A generator's pieces (bytes or str) as a streamed 200: each is sent as the
        handler yields it. The status is committed at the first piece, so a failure
        (or the deadline) later aborts the response: the agent cuts the call."""
        is_async = hasattr(pieces, "__anext__")
        end = object()

        def next_piece() -> Any:  # in a handler thread: the handler's code may block
            return next(pieces, end)

        started = False
        try:
            while True:
                step: asyncio.Future[Any]
                if is_async:
                    step = asyncio.ensure_future(_anext(pieces, end))
                else:
                    step = asyncio.wrap_future(self._executor.submit(next_piece))
                piece = await self._within(step, deadline)
                if piece is end:
                    break
                data = piece.encode("utf-8") if isinstance(piece, str) else bytes(piece)
                if not started:
                    headers, _ = render(b"")
                    await exchange.start_stream(200, headers)
                    started = True
                await exchange.write(data)
        except (_DeadlinePassed, Exception) as exc:
            what = "passed its deadline" if isinstance(exc, _DeadlinePassed) else "failed"
            _say(f"call {ctx.call_id} {what} while streaming its answer")
            if not isinstance(exc, _DeadlinePassed):
                print_user_traceback(exc)
            if started:
                exchange.abort()
                return
            status = 504 if isinstance(exc, _DeadlinePassed) else 502
            text = "function timed out (deadline passed)" if status == 504 else (
                f"function failed: {type(exc).__name__}: {exc}"[:1000])  # fmt: skip
            await exchange.respond(status, [_ERROR_TYPE], server.error_body(text))
            return
        if not started:
            headers, _ = render(b"")
            await exchange.respond(200, headers, b"")
            return
        await exchange.end_stream()

    async def _run(self, ctx: Context, data: bytes, deadline: float | None) -> Any:
        if deadline is not None and deadline <= time.time():
            raise _DeadlinePassed
        if self._is_async:
            future: asyncio.Future[Any] = asyncio.ensure_future(self._handler(ctx, data))
        else:
            thread = self._executor.submit(self._handler, ctx, data)
            self._threads.add(thread)
            thread.add_done_callback(self._threads.discard)
            future = asyncio.wrap_future(thread)
        result = await self._within(future, deadline)
        if inspect.isawaitable(result):  # a plain function that returned a coroutine
            result = await self._within(asyncio.ensure_future(result), deadline)
        return result

    @staticmethod
    async def _within(future: asyncio.Future[Any], deadline: float | None) -> Any:
        timeout = None if deadline is None else max(0.0, deadline - time.time())
        # asyncio.wait rather than wait_for: it never cancels on its own and has
        # no TimeoutError whose class differs between Python 3.8 and 3.11.
        done, _ = await asyncio.wait({future}, timeout=timeout)
        if not done:
            future.cancel()
            future.add_done_callback(_retrieve)
            raise _DeadlinePassed
        return future.result()

    async def stop(self) -> None:
        """Stop taking handler threads (running ones are not waited for)."""
        self._executor.shutdown(wait=False)


def check_handler(handler: object) -> Handler:
    """``handler`` if it can be called as ``handler(ctx, data)``, else ``TypeError``."""
    if not callable(handler):
        raise TypeError(f"the handler must be callable, not {type(handler).__name__}")
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return handler  # e.g. some builtins: cannot tell, trust it
    try:
        signature.bind(None, None)
    except TypeError:
        name = getattr(handler, "__name__", repr(handler))
        raise TypeError(
            f"the handler {name}{signature} must accept two arguments: (ctx, data)"
        ) from None
    return handler


def handle(handler: Handler, *, max_threads: int = 8) -> None:
    """Serve ``handler`` on the hot contract's socket until the container stops.

    ``handler(ctx, data)`` (plain or ``async def``) gets a :class:`Context` and the
    body as bytes and returns bytes, str, dict/list (JSON), ``None`` or a
    :class:`~hotfn.fdk.response.Response`. Exits with a message when
    ``FN_LISTENER`` is missing or malformed.
    """
    try:
        check_handler(handler)
    except TypeError as exc:
        sys.exit(f"hotfn.fdk: {exc}")
    runner = Runner(handler, max_threads=max_threads)
    server.run(runner, FDK_HEADERS, prog="hotfn.fdk", on_stop=runner.stop)
    if runner.busy_threads:
        # Threads cannot be stopped and the interpreter would wait for them at exit.
        _say(f"exiting with {runner.busy_threads} handler thread(s) still running")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

"""hotwrap's default mode: one run of the command per call.

Body → stdin (streamed), stdout → response body, stderr → the container's log.
The status needs care: a command may fail *after* writing output, and answering
200 before it exits would report that failure as a success (Fn's hotwrap does).
So stdout is held back up to ``buffer_limit`` bytes (1 MiB by default): a command
that exits within it gets an exact answer, 200 or 502. Past it, hotwrap commits
to 200 and streams the rest chunked; if the command then fails, the response is
aborted (connection closed, no final chunk), which the agent sees as an invalid
response, never as a truncated success.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import sys
import tempfile
import time
from typing import TYPE_CHECKING

from hotfn.fdk.context import Context, parse_deadline
from hotfn.fdk.http11 import check_header
from hotfn.fdk.response import OCTET_STREAM, contract_headers
from hotfn.fdk.server import JSON_TYPE, Exchange, error_body
from hotfn.hotwrap.child import Child, describe_exit

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from hotfn.fdk.http11 import Headers

# The variable naming the file where a command may write "Status: 201" and
# "Name: value" lines for the HTTP-trigger caller (docs/hotwrap.md).
RESPONSE_FILE_ENV = "FN_RESPONSE_HEADERS_FILE"
DEFAULT_BUFFER = 1 << 20
_RESPONSE_FILE_MAX = 1 << 16
_NOT_ENV_CHARS = re.compile(r"[^A-Za-z0-9_]")
# Linux refuses to start a program when any one environment string ("NAME=value"
# and its NUL) exceeds MAX_ARG_STRLEN, 128 KiB: one oversized client header must
# not make every command run fail with E2BIG.
_MAX_ENV_STRING = 1 << 17


def say(message: str) -> None:
    """A line in the container's log from hotwrap itself."""
    print(f"hotwrap: {message}", file=sys.stderr, flush=True)


def failure_body(code: int, stderr_tail: bytes, lines: int = 10) -> bytes:
    """The 502 message: how the command ended and the last lines of its stderr."""
    tail = stderr_tail.decode("utf-8", "replace").rstrip("\n").splitlines()[-lines:]
    message = f"command {describe_exit(code)}"
    if tail:
        message += "; last lines of stderr:\n" + "\n".join(tail)
    return error_body(message)


def read_response_file(path: str | None) -> tuple[int, list[tuple[str, str]]]:
    """The status and headers a command wrote to its response file (CGI-like
    ``Status: 201`` and ``Name: value`` lines; blank and ``#`` lines ignored)."""
    status, headers = 200, []  # type: tuple[int, list[tuple[str, str]]]
    if path is None:
        return status, headers
    try:
        with open(path, "rb") as file:
            text = file.read(_RESPONSE_FILE_MAX).decode("utf-8", "replace")
    except FileNotFoundError:
        return status, headers
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not sep:
            pass
        elif name.lower() == "status":
            code = value.split(" ", 1)[0]
            if code.isdigit() and 100 <= int(code) <= 599:
                status = int(code)
                continue
        else:
            try:
                headers.append(check_header(name, value))
                continue
            except ValueError:
                pass
        say(f"ignoring a line of ${RESPONSE_FILE_ENV}: {line[:80]!r}")
    return status, headers


def call_environment(
    base: Mapping[str, str], headers: Headers, response_file: str | None
) -> dict[str, str]:
    """The command's environment for one call (design.md §4)."""
    env = dict(base)
    ctx = Context(headers, None, {})
    values = [
        ("FN_CALL_ID", ctx.call_id),
        ("FN_DEADLINE", headers.get("fn-deadline", "")),
        ("FN_CONTENT_TYPE", ctx.content_type or ""),
    ]
    if ctx.is_http:
        values.append(("FN_HTTP_METHOD", ctx.method))
        values.append(("FN_HTTP_REQUEST_URL", ctx.request_url or ""))
        for name in ctx.http_headers:
            key = "FN_HTTP_H_" + _NOT_ENV_CHARS.sub("_", name).upper()
            values.append((key, ctx.http_headers[name]))
    for key, value in values:
        size = len(os.fsencode(key)) + len(os.fsencode(value)) + 2
        if size > _MAX_ENV_STRING:
            say(f"{key} is too large for the environment ({size} bytes): not set")
            env.pop(key, None)
        else:
            env[key] = value
    if response_file is not None:
        env[RESPONSE_FILE_ENV] = response_file
    return env


class ExecHandler:
    """Runs ``argv`` once per call (the :data:`~hotfn.fdk.server.CallHandler`)."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        buffer_limit: int = DEFAULT_BUFFER,
        content_type: str = OCTET_STREAM,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.buffer_limit = buffer_limit
        self.content_type = content_type
        self._env = dict(os.environ if env is None else env)
        self._scratch: str | None = None
        self._ids = itertools.count(1)
        self._children: set[Child] = set()

    async def start(self) -> None:
        """Make the private directory that holds the per-call response files."""
        try:
            self._scratch = tempfile.mkdtemp(prefix="hotwrap-")
        except OSError as exc:
            say(f"no writable temporary directory ({exc}): ${RESPONSE_FILE_ENV} is off")

    async def stop(self) -> None:
        """Kill running commands and remove the scratch directory."""
        for child in list(self._children):
            child.kill_group()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    async def __call__(self, exchange: Exchange) -> None:
        headers = exchange.head.headers
        deadline = parse_deadline(headers.get("fn-deadline"))
        if deadline is not None and deadline <= time.time():
            body = error_body("function timed out (deadline passed before the call started)")
            await exchange.respond(504, [JSON_TYPE], body, close=not exchange.body.done)
            return
        response_file = None
        if self._scratch is not None:
            response_file = os.path.join(self._scratch, f"{next(self._ids)}.headers")
        env = call_environment(self._env, headers, response_file)
        try:
            child = await Child.spawn(self.argv, env)
        except OSError as exc:
            say(f"cannot run {self.argv[0]}: {exc}")
            await exchange.body.drain()
            await exchange.respond(502, [JSON_TYPE], error_body(f"cannot run command: {exc}"))
            return
        self._children.add(child)
        call = _Call(self, exchange, child, response_file)
        task = asyncio.ensure_future(call.run())
        try:
            timeout = None if deadline is None else max(0.0, deadline - time.time())
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if task in done:
                task.result()  # a broken request body or a vanished client: the server handles it
                return
            child.kill_group()
            task.cancel()
            await asyncio.wait({task})
            say(f"call {headers.get('fn-call-id', '')} passed its deadline: killed the command")
            if exchange.state == Exchange.NEW:
                body = error_body("function timed out (deadline passed)")
                await exchange.respond(504, [JSON_TYPE], body, close=not exchange.body.done)
            else:
                exchange.abort()
        finally:
            if not task.done():  # the server is shutting down
                task.cancel()
            if child.returncode is None:
                child.kill_group()
                await child.wait()
            child.close()
            self._children.discard(child)
            if response_file is not None:
                try:
                    os.unlink(response_file)
                except FileNotFoundError:
                    pass

    def success_headers(self, response_file: str | None) -> list[tuple[str, str]]:
        """The 200's headers, with what the command put in its response file."""
        status, headers = read_response_file(response_file)
        return contract_headers(status, headers, None, self.content_type)


class _Call:
    """The data flow of one run: stdin pump, stderr copy, stdout collection."""

    def __init__(
        self, handler: ExecHandler, exchange: Exchange, child: Child, response_file: str | None
    ) -> None:
        self.handler = handler
        self.exchange = exchange
        self.child = child
        self.response_file = response_file
        self.committed = False

    async def run(self) -> None:
        feed = asyncio.ensure_future(self._feed_stdin())
        # A request body that breaks off or is malformed must end the run (the
        # command would otherwise wait for the rest of its stdin until the deadline);
        # awaiting `feed` below then raises the error for the server to answer.
        feed.add_done_callback(self._body_done)
        stderr = asyncio.ensure_future(self.child.pump_stderr())
        exited = asyncio.ensure_future(self.child.wait())
        helpers: list[asyncio.Future[object]] = [feed, stderr, exited]  # type: ignore[list-item]
        try:
            parts = await self._collect_stdout()
            code = await exited
            stderr_tail = await stderr
            await feed  # the rest of the body, if the command did not read it all
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.wait(helpers)
            for helper in helpers:  # mark failures as seen; the cause is reported above
                if not helper.cancelled():
                    helper.exception()
        exchange = self.exchange
        if self.committed:
            if code == 0:
                await exchange.end_stream()
            else:
                say(f"command {describe_exit(code)} after its output was streamed: aborting")
                exchange.abort()
        elif code == 0:
            headers = self.handler.success_headers(self.response_file)
            await exchange.respond(200, headers, b"".join(parts))
        else:
            say(f"command {describe_exit(code)}: 502")
            headers = [JSON_TYPE, ("Fn-Hotwrap-Exit-Code", str(code))]
            await exchange.respond(502, headers, failure_body(code, stderr_tail))

    def _body_done(self, feed: asyncio.Future[None]) -> None:
        if not feed.cancelled() and feed.exception() is not None:
            self.child.kill_group()

    async def _feed_stdin(self) -> None:
        stdin = self.child.stdin
        reading = True
        while True:
            data = await self.exchange.body.next_chunk()
            if not data:
                break
            if reading:
                # A command may stop reading early (head -c 10): keep consuming
                # the body so the connection stays usable for the next call.
                reading = await stdin.write(data)
        stdin.close()

    async def _collect_stdout(self) -> list[bytes]:
        parts: list[bytes] = []
        size = 0
        limit = self.handler.buffer_limit
        while True:
            data = await self.child.stdout.read(1 << 16)
            if not data:
                return parts
            if self.committed:
                await self.exchange.write(data)
                continue
            parts.append(data)
            size += len(data)
            if size > limit:
                headers = self.handler.success_headers(self.response_file)
                await self.exchange.start_stream(200, headers)
                self.committed = True
                await self.exchange.write(b"".join(parts))
                parts = []

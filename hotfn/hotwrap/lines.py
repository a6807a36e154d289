"""hotwrap ``--mode lines``: one long-lived process answering one line per call.

For line-oriented tools (a filter that reads a line and prints a line) starting a
process per call is most of the cost. Here the command starts once; each call
writes the body plus ``\\n`` to its stdin and answers with the next line of its
stdout (without the ``\\n``). Calls are served one at a time. If the command
dies, the call gets 502 with its exit status and last stderr lines, and the next
call starts it again; past a deadline its process group is killed (504).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING

from hotfn.fdk.context import parse_deadline
from hotfn.fdk.response import OCTET_STREAM, contract_headers
from hotfn.fdk.server import JSON_TYPE, Exchange, error_body
from hotfn.hotwrap.calls import failure_body, say
from hotfn.hotwrap.child import Child, describe_exit

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

LINE_MAX = 1 << 24


class LinesHandler:
    """Feeds each call to one persistent process as a line of input."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        content_type: str = OCTET_STREAM,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self._env = dict(os.environ if env is None else env)
        self._headers = contract_headers(200, None, None, content_type)
        self._child: Child | None = None
        self._stderr: asyncio.Future[bytes] | None = None
        self._lock_: asyncio.Lock | None = None

    @property
    def _lock(self) -> asyncio.Lock:
        # Made on first use, inside the running loop: before Python 3.10 a Lock
        # binds to the loop current at its creation, not the one asyncio.run makes.
        if self._lock_ is None:
            self._lock_ = asyncio.Lock()
        return self._lock_

    async def start(self) -> None:
        """Start the command now, so the first call does not pay for it."""
        await self._ensure_child()

    async def stop(self) -> None:
        """Kill the command (and its process group)."""
        await self._discard()

    async def _ensure_child(self) -> Child:
        if self._child is None:
            self._child = await Child.spawn(self.argv, self._env, stdout_limit=LINE_MAX)
            self._stderr = asyncio.ensure_future(self._child.pump_stderr())
        return self._child

    async def _discard(self) -> tuple[int, bytes]:
        """Kill and reap the command; its exit status and stderr tail."""
        child, stderr, self._child, self._stderr = self._child, self._stderr, None, None
        if child is None or stderr is None:
            return 0, b""
        child.kill_group()
        code = await child.wait()
        tail = await stderr
        child.close()
        return code, tail

    async def __call__(self, exchange: Exchange) -> None:
        headers = exchange.head.headers
        deadline = parse_deadline(headers.get("fn-deadline"))
        body = await exchange.body.read()
        line = body[:-1] if body.endswith(b"\n") else body
        if b"\n" in line:
            message = "in --mode lines a call's body must be a single line"
            await exchange.respond(502, [JSON_TYPE], error_body(message))
            return
        task = asyncio.ensure_future(self._exchange_line(line + b"\n"))
        timeout = None if deadline is None else max(0.0, deadline - time.time())
        try:
            done, _ = await asyncio.wait({task}, timeout=timeout)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        if task not in done:
            async with self._lock:
                await self._discard()
            say(f"call {headers.get('fn-call-id', '')} passed its deadline: killed the command")
            await exchange.respond(504, [JSON_TYPE], error_body("function timed out"))
            return
        try:
            reply = task.result()
        except OSError as exc:
            say(f"cannot run {self.argv[0]}: {exc}")
            await exchange.respond(502, [JSON_TYPE], error_body(f"cannot run command: {exc}"))
            return
        if isinstance(reply, bytes):
            await exchange.respond(200, self._headers, reply)
            return
        code, tail = reply
        say(f"command {describe_exit(code)}: 502; it starts again on the next call")
        headers_out = [JSON_TYPE, ("Fn-Hotwrap-Exit-Code", str(code))]
        await exchange.respond(502, headers_out, failure_body(code, tail))

    async def _exchange_line(self, line: bytes) -> bytes | tuple[int, bytes]:
        """The command's answer to ``line``, or (exit status, stderr tail) if it died."""
        async with self._lock:
            child = await self._ensure_child()
            await child.stdin.write(line)
            try:
                answer = await child.stdout.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                return await self._discard()
            except asyncio.LimitOverrunError:
                say(f"an output line is longer than {LINE_MAX} bytes: restarting the command")
                return await self._discard()
            return answer[:-1]

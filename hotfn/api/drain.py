"""The shutdown's bound on calls: drain, then cut what is still running.

uvicorn, told to stop, waits for in-flight requests up to its graceful timeout and
then cancels them; each cancelled request is logged as an "Exception in ASGI
application" with a traceback, and the process re-raises the signal. hotfn ends
calls itself first: :class:`CallTasks` knows the tasks serving ``/invoke`` and
``/t`` requests (registered by ``hotfn.api.invoke.serve_call``);
:meth:`CallTasks.drain_then_cut` waits up to the drain timeout for them and then
cancels the rest, which answer 503 "shutting down" (or, with a streamed answer
already under way, end it cut).
The server's stop then takes the drain timeout plus the time calls need to unwind
(their containers are removed by the agent's shutdown, with the driver's bounds).
"""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger("hotfn")

CUT_MESSAGE = "hotfn: the drain timeout passed during shutdown"
_UNWIND_S = 3.0  # how long cut calls may take to answer their clients


class CallTasks:
    """The tasks serving calls right now."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[object]] = set()
        self.cutting = False

    def track(self) -> asyncio.Task[object] | None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        return task

    def cut(self) -> int:
        """Cancel every call still running; they see ``cutting`` set."""
        self.cutting = True
        for task in self.tasks:
            task.cancel(CUT_MESSAGE)
        return len(self.tasks)

    async def drain_then_cut(self, drain_s: float) -> None:
        """Wait up to ``drain_s`` for the calls to end, then cut the rest and give
        them a moment to answer."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=drain_s)
        if self.tasks:
            log.warning(
                "shutdown: %d calls still running after the drain timeout (%g s): cut",
                self.cut(),
                drain_s,
            )
            await asyncio.wait(set(self.tasks), timeout=_UNWIND_S)


def call_tasks(app: ASGIApp) -> CallTasks:
    """The app's :class:`CallTasks` (made on first use)."""
    state = app.state  # type: ignore[attr-defined]
    # The dict itself, not getattr: every call asks (see hotfn.api.front).
    tasks: CallTasks | None = state._state.get("call_tasks")
    if tasks is None:
        tasks = state.call_tasks = CallTasks()
    return tasks


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with hotfn's bound on calls at shutdown."""

    def __init__(self, config: uvicorn.Config, tasks: CallTasks, drain_s: float) -> None:
        super().__init__(config)
        self.tasks = tasks
        self.drain_s = drain_s

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        cutter = asyncio.ensure_future(self.tasks.drain_then_cut(self.drain_s))
        try:
            await super().shutdown(sockets)
        finally:
            cutter.cancel()

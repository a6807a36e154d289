"""A command run by hotwrap: its pipes on the event loop, its exit, its process group.

asyncio's own subprocess support costs ~0.35 ms more per spawn here (a watcher
thread per child on Python < 3.12) and, depending on the version, waits for the
pipes to close before reporting the exit. This keeps the fast path: ``Popen`` with
``start_new_session`` (so the command and everything it starts share one process
group we can kill), pipe transports on the loop, and the exit seen through a pidfd
(a thread waiting with ``WNOWAIT`` where pidfds are missing).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

READ_SIZE = 1 << 16


class _StdinProtocol(asyncio.BaseProtocol):
    """Write side of the command's stdin, with backpressure and EPIPE tolerance."""

    def __init__(self) -> None:
        self.transport: asyncio.WriteTransport | None = None
        self.lost = False
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self.transport = transport

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def write(self, data: bytes) -> bool:
        """Write ``data``; ``False`` once the command no longer reads its stdin."""
        if self.lost or self.transport is None:
            return False
        self.transport.write(data)
        while self._paused and not self.lost:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return not self.lost

    def close(self) -> None:
        """Close stdin (after what is buffered is written): the command sees EOF."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


def _wait_exit_blocking(pid: int) -> None:
    # WNOWAIT leaves the command a zombie: its pid, hence its process group id,
    # cannot be reused until Popen.wait() reaps it, so killing the group is safe.
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


class Child:
    """A running command: ``stdin`` (:class:`_StdinProtocol`), ``stdout`` and
    ``stderr`` (:class:`asyncio.StreamReader`), :meth:`wait` and :meth:`kill_group`."""

    def __init__(self, proc: subprocess.Popen[bytes], stdout_limit: int = READ_SIZE) -> None:
        self._proc = proc
        self.pid = proc.pid
        self.returncode: int | None = None
        self.stdin = _StdinProtocol()
        # The limit bounds readuntil() and how much unread output is buffered.
        self.stdout = asyncio.StreamReader(limit=stdout_limit)
        self.stderr = asyncio.StreamReader()
        self._transports: list[asyncio.BaseTransport] = []
        self._exited: asyncio.Future[None] | None = None

    @classmethod
    async def spawn(
        cls, argv: Sequence[str], env: Mapping[str, str], *, stdout_limit: int = READ_SIZE
    ) -> Child:
        """Start ``argv`` (no shell) in a new session. ``OSError`` if it cannot run."""
        # Popen blocks the loop for the fork+exec (~0.5 ms): cheaper than handing it
        # to a thread, and nothing else needs the loop meanwhile (one call at a time).
        proc = subprocess.Popen(  # noqa: ASYNC220
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            bufsize=0,
            start_new_session=True,
        )
        child = cls(proc, stdout_limit)
        try:
            await child._connect()
        except BaseException:
            child.kill_group()
            proc.wait()
            child.close()
            raise
        return child

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        proc = self._proc
        assert proc.stdin and proc.stdout and proc.stderr
        stdin = self.stdin
        writing, _ = await loop.connect_write_pipe(lambda: stdin, proc.stdin)
        self._transports.append(writing)
        for reader, pipe in ((self.stdout, proc.stdout), (self.stderr, proc.stderr)):
            reading, _ = await loop.connect_read_pipe(
                lambda r=reader: asyncio.StreamReaderProtocol(r),  # type: ignore[misc]
                pipe,
            )
            self._transports.append(reading)

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal the command and every process it started (unless it was reaped)."""
        if self.returncode is None:
            try:
                os.killpg(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    async def wait(self) -> int:
        """Wait for the command to exit, kill what it left behind, return its status
        (negative: killed by that signal)."""
        if self._exited is None:
            self._exited = asyncio.ensure_future(self._wait())
        await asyncio.shield(self._exited)
        assert self.returncode is not None
        return self.returncode

    async def _wait(self) -> None:
        loop = asyncio.get_running_loop()
        pidfd = -1
        if hasattr(os, "pidfd_open"):  # Python 3.9+ on Linux 5.3+
            try:
                pidfd = os.pidfd_open(self.pid)
            except OSError:  # e.g. blocked by a seccomp profile
                pidfd = -1
        if pidfd >= 0:
            exited: asyncio.Future[None] = loop.create_future()

            def readable() -> None:
                if not exited.done():
                    exited.set_result(None)

            loop.add_reader(pidfd, readable)
            try:
                await exited
            finally:
                loop.remove_reader(pidfd)
                os.close(pidfd)
        else:
            await loop.run_in_executor(None, _wait_exit_blocking, self.pid)
        # Background processes the command left would pile up in a hot container
        # and keep its stdout open: they end with the call.
        self.kill_group()
        self.returncode = self._proc.wait()

    async def pump_stderr(self, keep: int = 4096) -> bytes:
        """Copy the command's stderr to ours (the container's log) until EOF;
        return its last ``keep`` bytes, for error messages."""
        tail = b""
        out = getattr(sys.stderr, "buffer", None)
        while True:
            data = await self.stderr.read(READ_SIZE)
            if not data:
                return tail
            if out is not None:
                try:
                    sys.stderr.flush()  # keep our own messages in order with the command's
                    out.write(data)
                    out.flush()
                except (OSError, ValueError):
                    out = None  # no log to write to: keep serving, keep the tail
            tail = (tail + data)[-keep:]

    def close(self) -> None:
        """Close the pipes (the command should have exited or been killed)."""
        for transport in self._transports:
            transport.close()
        for pipe in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                pipe.close()


def describe_exit(code: int) -> str:
    """``exited with code 3`` / ``was killed by signal SIGKILL``."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = str(-code)
    return f"was killed by signal {name}"

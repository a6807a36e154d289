"""A unix-socket proxy in front of the Docker Engine that black-holes chosen requests.

Every connection's first request head is read; if it matches a stalled
(method, path part) it is never forwarded nor answered (as an engine wedged on that
request would behave). Anything else is forwarded byte for byte, with
``Connection: close`` so that the next request comes on a new connection and is
looked at too (upgrade requests, the attach, keep their headers: the engine hijacks
those connections anyway). Runs its own event loop on a thread, so sync tests can
drive it while a real ``hotfn start`` server talks to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from pathlib import Path

ENGINE = "/var/run/docker.sock"
_VERSION = re.compile(r"^/v[0-9.]+(?=/)")


class StallingProxy:
    """``path``: the proxy's socket (give the server ``DOCKER_HOST=unix://path``)."""

    def __init__(self, path: Path, upstream: str = ENGINE) -> None:
        self.path = path
        self.upstream = upstream
        self.held: list[str] = []  # "METHOD /path" of each black-holed request
        self._stalled: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    def start(self) -> StallingProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_unix_server(self._handle, str(self.path)), self._loop
        ).result(10)
        return self

    def stall(self, method: str, path_part: str) -> None:
        """Black-hole requests of ``method`` whose path contains ``path_part``
        ("" matches every path; method "*" every method)."""
        with self._lock:
            self._stalled.append((method, path_part))

    def unstall(self) -> None:
        """Forward everything again (requests held so far stay unanswered)."""
        with self._lock:
            self._stalled.clear()

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._conns):
                writer.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _is_stalled(self, method: str, path: str) -> bool:
        with self._lock:
            return any(m in ("*", method) and part in path for m, part in self._stalled)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target = head.decode("latin-1").split(" ", 2)[:2]
            path = _VERSION.sub("", target)
            if self._is_stalled(method, path):
                self.held.append(f"{method} {path.split('?')[0]}")
                await reader.read()  # until the client gives up
                return
            await self._forward(head, reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()

    async def _forward(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
        self._conns.add(up_writer)
        try:
            if b"upgrade" not in head.lower():
                lines = [
                    line
                    for line in head[:-4].split(b"\r\n")
                    if not line.lower().startswith(b"connection:")
                ]
                head = b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n"
            up_writer.write(head)
            to_engine = asyncio.create_task(_pipe(reader, up_writer, half_close=True))
            try:
                await _pipe(up_reader, writer, half_close=False)
            finally:
                to_engine.cancel()
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await to_engine
        finally:
            self._conns.discard(up_writer)
            up_writer.close()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, half_close: bool) -> None:
    """Copy until EOF; then pass the EOF on (the attach's closed stdin) or stop."""
    with contextlib.suppress(OSError):
        while data := await src.read(64 * 1024):
            dst.write(data)
            await dst.drain()
        if half_close and dst.can_write_eof():
            dst.write_eof()

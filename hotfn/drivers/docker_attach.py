"""Raw Engine API streams for the Docker driver: hijacked attach and followed logs.

aiodocker covers the plain JSON endpoints, but its attach stream cannot half-close
(its ``close()`` shuts the write side *and* drops the connection), and its log
stream merges stdout with stderr. A cold call needs exactly the missing piece:
write the body to the container's stdin, close stdin, keep reading stdout until the
container exits. So this module speaks HTTP to the engine's unix socket directly:

- :class:`AttachStream`: ``POST /containers/{id}/attach`` with ``Upgrade: tcp``.
  After the ``101`` the connection is a raw duplex stream; :meth:`~AttachStream.
  close_stdin` is ``shutdown(SHUT_WR)`` on the socket, which the engine passes on as
  EOF on the container's stdin (the container was created with ``StdinOnce``), while
  the read side keeps delivering output until the container exits.
- :func:`read_logs`: ``GET /containers/{id}/logs`` (with timestamps) sent as
  HTTP/1.0 so the engine streams the body unchunked and, when following, closes the
  connection when the container stops; :class:`LineSplitter` cuts it into lines.
- :func:`request`: a one-shot JSON request (for the endpoints aiodocker lacks).

Without a TTY the engine multiplexes stdout and stderr into frames: an 8-byte header
(stream byte, 3 zero bytes, big-endian length) then the payload (:func:`read_frame`).

Errors are hotfn's: an unreachable socket is :class:`~hotfn.errors.EngineUnavailable`;
an error status is :class:`EngineRefused` (status + the engine's message), which the
driver maps to the right hotfn exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from hotfn.errors import EngineUnavailable, HotfnError

STDIN, STDOUT, STDERR = 0, 1, 2
_HEADER = struct.Struct(">BxxxL")
_MAX_HEADER_BLOCK = 64 * 1024
_WRITE_CHUNK = 256 * 1024


class EngineRefused(HotfnError):
    """The engine answered a raw request with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.engine_status = status


async def _connect(socket_path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.open_unix_connection(socket_path, limit=_MAX_HEADER_BLOCK)
    except OSError as exc:
        raise EngineUnavailable(
            f"the Docker Engine is not reachable at unix://{socket_path}: {exc.strerror or exc}"
        ) from exc


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _send(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    head: str,
    body: bytes = b"",
) -> tuple[int, dict[str, str]]:
    """Send one request; return the status and the (lower-cased) headers.

    An error status raises :class:`EngineRefused` with the engine's message.
    """
    try:
        writer.write(head.encode("latin-1") + b"\r\n" + body)
        await writer.drain()
        block = await reader.readuntil(b"\r\n\r\n")
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise EngineUnavailable(f"the Docker Engine dropped the connection: {exc}") from exc
    status_line, *header_lines = block.decode("latin-1").split("\r\n")
    try:
        status = int(status_line.split(" ", 2)[1])
    except (IndexError, ValueError):
        raise EngineUnavailable(f"not an HTTP answer from the engine: {status_line!r}") from None
    headers = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if status >= 400:
        raise EngineRefused(status, await _error_message(reader, headers))
    return status, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    length = headers.get("content-length")
    try:
        if length is not None:
            return await reader.readexactly(int(length))
        return await reader.read()  # HTTP/1.0: the body ends with the connection
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        raise EngineUnavailable(f"the Docker Engine dropped the connection: {exc}") from exc


async def _error_message(reader: asyncio.StreamReader, headers: dict[str, str]) -> str:
    try:
        body = await asyncio.wait_for(_read_body(reader, headers), 5)
    except (TimeoutError, EngineUnavailable):
        return "no message"
    try:
        return str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace").strip() or "no message"


def _head(method: str, path: str, version: str, extra: str = "") -> str:
    return f"{method} {path} HTTP/{version}\r\nHost: docker\r\n{extra}"


async def request(socket_path: str, method: str, path: str, payload: Any = None) -> Any:
    """One JSON request over a fresh connection; the decoded answer (None if empty).

    No time limit of its own: callers wrap it in ``asyncio.timeout``.
    """
    body = b"" if payload is None else json.dumps(payload).encode()
    extra = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    reader, writer = await _connect(socket_path)
    try:
        _, headers = await _send(reader, writer, _head(method, path, "1.0", extra), body)
        data = await _read_body(reader, headers)
    finally:
        await _close(writer)
    try:
        return json.loads(data) if data.strip() else None
    except ValueError:
        raise EngineUnavailable(f"the engine's answer to {method} {path} is not JSON") from None


MAX_ARCHIVE = 256 * 1024 * 1024  # bytes of a directory copied out of an image


async def read_archive(socket_path: str, container_id: str, path: str) -> bytes:
    """The tar archive of ``path`` in a container (``GET /containers/{id}/archive``).

    No time limit of its own: callers wrap it in ``asyncio.timeout``.
    """
    query = urlencode({"path": path})
    reader, writer = await _connect(socket_path)
    try:
        _, headers = await _send(
            reader, writer, _head("GET", f"/containers/{container_id}/archive?{query}", "1.0")
        )
        length = int(headers.get("content-length") or 0)
        if length > MAX_ARCHIVE:
            raise EngineRefused(413, f"{path} is larger than {MAX_ARCHIVE} bytes")
        return await _read_body(reader, headers)
    finally:
        await _close(writer)


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes] | None:
    """The next (stream, payload) frame of a multiplexed stream; None at EOF."""
    try:
        header = await reader.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise EngineUnavailable("the engine's stream ended inside a frame header") from exc
        return None
    except OSError:
        return None
    stream, length = _HEADER.unpack(header)
    try:
        return stream, await reader.readexactly(length)
    except (asyncio.IncompleteReadError, OSError) as exc:
        raise EngineUnavailable("the engine's stream ended inside a frame") from exc


class AttachStream:
    """A hijacked attach connection to one container: stdin in, frames out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, socket_path: str, container_id: str, stdin: bool = True) -> AttachStream:
        """Attach to stdout and stderr (and stdin) of a created container.

        Attach before start, so no output is missed.
        """
        query = urlencode({"stream": 1, "stdin": int(stdin), "stdout": 1, "stderr": 1})
        head = _head(
            "POST",
            f"/containers/{container_id}/attach?{query}",
            "1.1",
            "Content-Type: text/plain\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n",
        )
        reader, writer = await _connect(socket_path)
        try:
            await _send(reader, writer, head)
        except BaseException:
            await _close(writer)
            raise
        return cls(reader, writer)

    async def feed_stdin(
        self, data: bytes, rest: Callable[[], Awaitable[bytes | None]] | None = None
    ) -> None:
        """Write ``data`` (then what ``rest`` gives, until None) to the container's
        stdin, then close stdin.

        A container that exits without reading its input is not an error; a
        failing ``rest`` (the client went away) closes stdin early.
        """
        try:
            view = memoryview(data)
            for i in range(0, len(view), _WRITE_CHUNK):
                self._writer.write(view[i : i + _WRITE_CHUNK])
                await self._writer.drain()
            if rest is not None:
                with contextlib.suppress(HotfnError):
                    while (more := await rest()) is not None:
                        self._writer.write(more)
                        await self._writer.drain()
            self.close_stdin()
        except (ConnectionError, OSError):
            pass

    def close_stdin(self) -> None:
        """Half-close: EOF on the container's stdin; output keeps coming."""
        if self._writer.can_write_eof() and not self._writer.is_closing():
            with contextlib.suppress(OSError):
                self._writer.write_eof()

    async def read_frame(self) -> tuple[int, bytes] | None:
        return await read_frame(self._reader)

    async def close(self) -> None:
        await _close(self._writer)


async def read_logs(
    socket_path: str, container_id: str, follow: bool, since: int = 0
) -> AsyncGenerator[tuple[int, str, bytes], None]:
    """(stream, timestamp, payload) of each log message of a container.

    ``follow``: from its start until it stops; else what is logged so far, from Unix
    time ``since`` on. Timestamps are the engine's fixed-width RFC 3339 strings (so
    they compare as strings); a payload is one line with its newline, or an
    unterminated piece of one.
    """
    query = urlencode(
        {"follow": int(follow), "stdout": 1, "stderr": 1, "timestamps": 1, "since": since}
    )
    reader, writer = await _connect(socket_path)
    try:
        await _send(reader, writer, _head("GET", f"/containers/{container_id}/logs?{query}", "1.0"))
        while (frame := await read_frame(reader)) is not None:
            stream, data = frame
            stamp, _, payload = data.partition(b" ")
            yield stream, stamp.decode("ascii", "replace"), payload
    finally:
        await _close(writer)


class LineSplitter:
    """Cuts each stream's output into lines (without newlines) of at most
    ``max_line`` bytes, decoded as UTF-8 (invalid bytes replaced)."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._pending: dict[int, bytearray] = {STDOUT: bytearray(), STDERR: bytearray()}

    def feed(self, stream: int, data: bytes) -> list[tuple[int, str]]:
        buf = self._pending.get(stream)
        if buf is None:
            return []
        buf += data
        lines, start = [], 0
        while True:
            end = buf.find(b"\n", start, start + self.max_line + 1)
            if end < 0 and len(buf) - start <= self.max_line:
                break
            cut = end if end >= 0 else start + self.max_line
            lines.append((stream, buf[start:cut].decode("utf-8", "replace")))
            start = cut + 1 if end >= 0 else cut
        del buf[:start]
        return lines

    def flush(self) -> list[tuple[int, str]]:
        """The unterminated rest of each stream."""
        rest = [(s, bytes(b).decode("utf-8", "replace")) for s, b in self._pending.items() if b]
        for buf in self._pending.values():
            buf.clear()
        return rest

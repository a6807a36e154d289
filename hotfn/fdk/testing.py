"""A client that calls a hot function the way Fn's agent does, on raw bytes.

For testing functions (and the FDK and hotwrap themselves) without an agent:
start the function with ``FN_LISTENER=unix:/some/dir/lsnr.sock``, then::

    with FnClient("/some/dir/lsnr.sock") as fn:
        reply = fn.call(b"hi", http=("GET", "http://x/t/app/hello?a=1", {"Accept": "*/*"}))
        assert reply.status == 200 and reply.http_status == 200

Requests have exactly the shape design.md §2 gives for Fn: ``POST /call
HTTP/1.1``, ``Host: localhost``, ``Fn-Call-Id``, ``Fn-Deadline`` (RFC 3339 UTC),
and for HTTP-trigger calls ``Fn-Http-H-*``, ``Fn-Http-Method``,
``Fn-Http-Request-Url`` and ``Fn-Intent: httprequest``; bodies go with a
``Content-Length`` or chunked. Standard library only, blocking sockets.
"""

from __future__ import annotations

import itertools
import os
import selectors
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING

from hotfn.fdk.http11 import Headers

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

_ids = itertools.count(1)


class ConnectionClosed(Exception):
    """The function closed the connection instead of (finishing) an answer."""


def rfc3339(stamp: float, *, millis: bool = True) -> str:
    """A Unix time as Fn writes deadlines: ``2026-11-29T11:54:51.123Z``."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp))
    return text + (f".{int(stamp % 1 * 1000):03d}Z" if millis else "Z")


def fn_request_headers(
    *,
    call_id: str | None = None,
    deadline: float | str | None = 30.0,
    content_type: str | None = None,
    http: tuple[str, str, Mapping[str, str]] | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """The headers Fn's agent sends with a call.

    ``deadline`` is seconds from now or an already formatted string; ``http`` is
    ``(method, full_url, client_headers)`` for an HTTP-trigger call: each client
    header ``K`` is sent as itself and as ``Fn-Http-H-K`` (``Content-Type`` only as
    itself), as Fn does.
    """
    headers = [("Host", "localhost"), ("Fn-Call-Id", call_id or f"01TESTCALL{next(_ids):016d}")]
    if deadline is not None:
        text = deadline if isinstance(deadline, str) else rfc3339(time.time() + deadline)
        headers.append(("Fn-Deadline", text))
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    if http is not None:
        method, url, client_headers = http
        for name, value in client_headers.items():
            if name.lower() != "content-type":
                headers.append((name, value))
                headers.append(("Fn-Http-H-" + name, value))
        headers += [
            ("Fn-Http-Method", method),
            ("Fn-Http-Request-Url", url),
            ("Fn-Intent", "httprequest"),
        ]
    headers.extend(extra)
    return headers


class FnResponse:
    """A parsed answer: ``status``, ``headers``, ``body``, and what the agent would
    pass to an HTTP-trigger caller (``http_status``, ``http_headers``)."""

    def __init__(self, status: int, headers: Headers, body: bytes, chunked: bool) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.chunked = chunked

    @property
    def http_status(self) -> int:
        """``Fn-Http-Status`` as an int (200 if absent)."""
        return int(self.headers.get("fn-http-status", "200"))

    @property
    def http_headers(self) -> Headers:
        """``Fn-Http-H-*`` with the prefix stripped, plus ``Content-Type``."""
        pairs = [(n[10:], v) for n, v in self.headers.pairs if n.lower().startswith("fn-http-h-")]
        pairs += [("Content-Type", v) for v in self.headers.get_all("content-type")]
        return Headers(pairs)

    def __repr__(self) -> str:
        return f"<FnResponse {self.status} {self.body[:60]!r}>"


class FnClient:
    """One keep-alive connection to a function's socket."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self._timeout = timeout
        self._buf = bytearray()
        self._eof = False
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise

    def __enter__(self) -> FnClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()

    def call(
        self,
        body: bytes = b"",
        *,
        chunked: bool = False,
        chunk_size: int = 1 << 16,
        headers: Sequence[tuple[str, str]] | None = None,
        call_id: str | None = None,
        deadline: float | str | None = 30.0,
        content_type: str | None = None,
        http: tuple[str, str, Mapping[str, str]] | None = None,
        extra: Iterable[tuple[str, str]] = (),
    ) -> FnResponse:
        """Send one call and return the answer. ``headers`` replaces the whole
        generated header block; the other keywords are :func:`fn_request_headers`'s."""
        if headers is not None:
            block = list(headers)
        else:
            block = fn_request_headers(
                call_id=call_id,
                deadline=deadline,
                content_type=content_type,
                http=http,
                extra=extra,
            )
        self.send_request(block, body, chunked=chunked, chunk_size=chunk_size)
        return self.read_response()

    def send_request(
        self,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        *,
        chunked: bool = False,
        chunk_size: int = 1 << 16,
    ) -> None:
        """Send ``POST /call`` with ``headers`` and ``body`` (without waiting)."""
        framing = (
            ("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(body)))
        )
        lines = ["POST /call HTTP/1.1", *(f"{n}: {v}" for n, v in [*headers, framing]), "", ""]
        head = "\r\n".join(lines).encode("latin-1")
        if not chunked:
            self.send_raw([head, body])
            return
        view = memoryview(body)
        pieces: list[bytes | memoryview] = [head]
        for start in range(0, len(body), chunk_size):
            piece = view[start : start + chunk_size]
            pieces += [b"%x\r\n" % len(piece), piece, b"\r\n"]
        pieces.append(b"0\r\n\r\n")
        self.send_raw(pieces)

    def send_raw(self, pieces: bytes | Iterable[bytes | memoryview]) -> None:
        """Send bytes as they are. What arrives meanwhile is kept for
        :meth:`read_response`: a function may answer while still reading (hotwrap
        streams output), and a client that only reads after writing would
        deadlock with it on large bodies. If the function answers and closes
        before taking everything (e.g. 431), sending stops quietly."""
        queue = (
            [memoryview(pieces)] if isinstance(pieces, bytes) else [memoryview(p) for p in pieces]
        )
        self.sock.setblocking(False)
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
                while queue and not self._eof:
                    if not selector.select(self._timeout):
                        raise TimeoutError("the function stopped reading the request")
                    self._read_available()
                    queue = self._write_available(queue)
        finally:
            self.sock.settimeout(self._timeout)

    def _read_available(self) -> None:
        try:
            data = self.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionResetError:
            data = b""
        if data:
            self._buf += data
        else:
            self._eof = True

    def _write_available(self, queue: list[memoryview]) -> list[memoryview]:
        while queue:
            try:
                sent = self.sock.send(queue[0])
            except (BlockingIOError, InterruptedError):
                return queue
            except (BrokenPipeError, ConnectionResetError):
                self._eof = True
                return queue
            if sent < len(queue[0]):
                queue[0] = queue[0][sent:]
                return queue
            queue.pop(0)
        return queue

    def _fill(self) -> None:
        data = b"" if self._eof else self.sock.recv(1 << 20)
        if not data:
            self._eof = True
            raise ConnectionClosed("the function closed the connection")
        self._buf += data

    def _read_until(self, separator: bytes) -> bytes:
        start = 0
        while True:
            index = self._buf.find(separator, start)
            if index >= 0:
                end = index + len(separator)
                data = bytes(self._buf[:end])
                del self._buf[:end]
                return data
            start = max(0, len(self._buf) - len(separator) + 1)
            self._fill()

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buf) < size:
            self._fill()
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def read_response(self) -> FnResponse:
        """Read one complete response (skipping ``100 Continue``)."""
        while True:
            head = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
            status = int(head[0].split(" ", 2)[1])
            if status != 100:
                break
        headers = Headers(
            (name, value.strip())
            for name, _, value in (line.partition(":") for line in head[1:] if line)
        )
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self._read_until(b"\r\n")[:-2].split(b";")[0], 16)
                if size == 0:
                    while self._read_until(b"\r\n") != b"\r\n":
                        pass
                    return FnResponse(status, headers, b"".join(parts), chunked=True)
                parts.append(self._read_exactly(size))
                self._read_exactly(2)
        length = int(headers.get("content-length", "0"))
        return FnResponse(status, headers, self._read_exactly(length), chunked=False)


class FunctionProcess:
    """A function (FDK or hotwrap) started as Fn's agent would start it.

    ``argv`` runs with ``FN_LISTENER`` naming ``lsnr.sock`` in a fresh directory
    and ``FN_FORMAT=http-stream`` (``env`` adds to or overrides ``os.environ``);
    stdout and stderr go to a log file (:meth:`log`). The constructor returns once
    the socket is ready the way the agent checks it: ``lsnr.sock`` is a symlink
    that resolves to a socket. Use as a context manager, or call :meth:`stop`.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 10,
    ) -> None:
        self.directory = tempfile.mkdtemp(prefix="fn-")
        iofs = os.path.join(self.directory, "iofs")
        os.mkdir(iofs)
        self.socket_path = os.path.join(iofs, "lsnr.sock")
        full_env = {**os.environ, "FN_FORMAT": "http-stream", **(env or {})}
        full_env["FN_LISTENER"] = "unix:" + self.socket_path
        self._log_path = os.path.join(self.directory, "log")
        self._final_log: str | None = None
        with open(self._log_path, "wb") as log:
            self.proc = subprocess.Popen(
                list(argv), env=full_env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        give_up = time.monotonic() + timeout
        while True:
            try:
                if os.path.islink(self.socket_path) and stat.S_ISSOCK(
                    os.stat(self.socket_path).st_mode
                ):
                    return
            except FileNotFoundError:
                pass
            code = self.proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"the function exited ({code}) before it was ready:\n{self.log()}"
                )
            if time.monotonic() > give_up:
                raise TimeoutError(f"no socket at {self.socket_path} after {timeout} s")
            time.sleep(0.005)

    def __enter__(self) -> FunctionProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, timeout: float = 30.0) -> FnClient:
        """A new connection to the function."""
        return FnClient(self.socket_path, timeout)

    def log(self) -> str:
        """Everything the function wrote to stdout and stderr so far."""
        if self._final_log is not None:
            return self._final_log
        with open(self._log_path, "rb") as log:
            return log.read().decode("utf-8", "replace")

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM (then SIGKILL after ``timeout``); the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._final_log is None:
            self._final_log = self.log()
            shutil.rmtree(self.directory, ignore_errors=True)
        return self.proc.returncode

"""An in-process fake engine for unit tests of the agent.

A "hot container" is an asyncio HTTP/1.1 server on a unix socket in the container's
iofs directory, following the http-stream handshake (bind ``phonylsnr.sock``, chmod,
symlink ``lsnr.sock``). What a container does is set per image by a
:class:`FakeImage` (start delay, init failure, hang) and per call by the request body:

=================  ===========================================================
body               the fake function ...
=================  ===========================================================
``sleep:<s>``      sleeps ``s`` seconds, then echoes the body
``hang``           never answers
``raise``          answers 502 (the function raised)
``oom``            dies as if OOM-killed (exit 137, ``oom_killed``)
``crash``          dies with exit code 3 mid-call
``status:<n>``     answers status ``n`` (outside the contract unless 200/502/504)
``log:<text>``     writes ``<text>`` to stderr, then echoes the body
``headers``        answers a JSON object of the request headers it received
``env``            answers a JSON object of its environment (after specialisation too)
``http:<n>``       answers 200 with ``Fn-Http-Status: n`` and ``Fn-Http-H-X-Fake: yes``
anything else      echoes the body (``Content-Type`` as sent)
=================  ===========================================================

A container started with ``--generic`` in its entrypoint plays hotfn's generic
loader: it waits for one specialise request on ``generic.sock`` and becomes the
function it names if the code is in its ``/function`` mount.

Cold runs (:meth:`FakeDriver.run_default_format`) answer ``Hello <stdin> from Fake!`` on stdout,
or obey ``sleep:<s>``, ``exit:<n>``, ``oom``, ``big:<n>`` (n bytes of output) and
``stderr:<text>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hotfn.body import Pipe, Reader
from hotfn.drivers.base import (
    ContainerSpec,
    DefaultFormatResult,
    ExitStatus,
    HistoryEntry,
    ImageInfo,
    LogLine,
)
from hotfn.drivers.registry import RegistryAuth
from hotfn.errors import EngineUnavailable, ImageNotFound, ImagePullFailed, NotFound

InitMode = Literal["ok", "exit", "hang", "bad-symlink", "oom"]


@dataclass
class FakeImage:
    """How containers of one image behave."""

    start_delay: float = 0.0
    init: InitMode = "ok"
    init_exit_code: int = 1
    boot_lines: tuple[str, ...] = ()  # written to stderr at start
    # What inspect_image/image_history/export_dir report (warm generic containers):
    labels: Mapping[str, str] = field(default_factory=dict)
    entrypoint: tuple[str, ...] = ()
    workdir: str = ""
    env: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    files: Mapping[str, bytes] = field(default_factory=dict)  # under the exported dir


@dataclass
class FakeContainer:
    """One container of the fake engine."""

    id: str
    spec: ContainerSpec
    image: FakeImage
    labels: Mapping[str, str]
    status: ExitStatus = field(default_factory=lambda: ExitStatus(running=True))
    calls: int = 0
    lines: asyncio.Queue[LogLine | None] = field(default_factory=asyncio.Queue)
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    server: asyncio.Server | None = None
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    memory_mb: int = 0
    specialised: dict[str, object] | None = None  # the generic loader's request

    def log(self, stream: Literal["stdout", "stderr"], line: str) -> None:
        self.lines.put_nowait(LogLine(stream, line))

    def die(self, exit_code: int, oom: bool = False) -> None:
        """Stop the container: close its socket and every connection at once."""
        if self.exited.is_set():
            return
        self.status = ExitStatus(running=False, exit_code=exit_code, oom_killed=oom)
        if self.server is not None:
            self.server.close()
        for w in list(self.writers):
            w.transport.abort()
        self.lines.put_nowait(None)
        self.exited.set()


class FakeDriver:
    """Implements ``hotfn.drivers.base.Driver`` in-process (see the module docs)."""

    def __init__(self, images: Mapping[str, FakeImage] | None = None) -> None:
        self.images: dict[str, FakeImage] = dict(images or {"fake/echo": FakeImage()})
        self.containers: dict[str, FakeContainer] = {}
        self.started = 0  # hot containers started
        self.default_format_runs = 0
        self.removed: list[str] = []
        self.down = False  # True: every call raises EngineUnavailable
        self.default_format_specs: list[ContainerSpec] = []
        self.exports = 0  # export_dir calls
        self.export_labels: dict[str, str] = {}  # labels of the last export_dir
        self.updates: list[tuple[str, int]] = []  # update_memory calls
        # A registry: images that pull() copies into ``images``.
        self.registry: dict[str, FakeImage] = {}
        self.pulls: list[tuple[str, RegistryAuth | None]] = []
        self.pull_error: ImagePullFailed | None = None  # every pull raises this
        self.pull_gate: asyncio.Event | None = None  # set: pulls proceed
        self._seq = 0

    def _check(self) -> None:
        if self.down:
            raise EngineUnavailable("the Docker Engine is not reachable (fake: down)")

    def _image(self, name: str) -> FakeImage:
        # inspect_image's ids are "sha256:<name>": accept them where names go.
        image = self.images.get(name) or self.images.get(name.removeprefix("sha256:"))
        if image is None:
            raise ImageNotFound(f"No such image: {name}")
        return image

    def _new_id(self) -> str:
        self._seq += 1
        return f"fake{self._seq:08d}" + os.urandom(4).hex()

    def running(self) -> list[FakeContainer]:
        return [c for c in self.containers.values() if not c.exited.is_set()]

    def add_leftover(self, labels: Mapping[str, str]) -> str:
        """Register a container as if an earlier run had left it behind."""
        cid = self._new_id()
        spec = ContainerSpec(name=cid, image="leftover", labels=labels)
        self.containers[cid] = FakeContainer(cid, spec, FakeImage(), dict(labels))
        return cid

    # -- Driver ------------------------------------------------------------------

    async def ping(self) -> None:
        self._check()

    async def inspect_image(self, image: str) -> ImageInfo:
        self._check()
        img = self._image(image)
        return ImageInfo(
            id=f"sha256:{image}",
            labels=dict(img.labels),
            entrypoint=img.entrypoint,
            workdir=img.workdir,
            env=img.env,
            layers=img.layers,
        )

    async def pull(self, image: str, auth: RegistryAuth | None = None) -> None:
        self._check()
        self.pulls.append((image, auth))
        if self.pull_gate is not None:
            await self.pull_gate.wait()
        if self.pull_error is not None:
            raise self.pull_error
        found = self.registry.get(image)
        if found is None:
            raise ImagePullFailed(
                f"pulling image {image} failed: manifest unknown", reason="not_found"
            )
        self.images[image] = found

    async def remove_image(self, image: str) -> bool:
        self._check()
        if image not in self.images or any(c.spec.image == image for c in self.running()):
            return False
        del self.images[image]
        return True

    async def image_history(self, image: str) -> list[HistoryEntry]:
        self._check()
        return list(self._image(image).history)

    async def export_dir(
        self, image: str, path: str, dest: Path, labels: Mapping[str, str] | None = None
    ) -> None:
        self._check()
        self.export_labels = dict(labels or {})
        self.exports += 1
        _write_files(dest, self._image(image).files)

    async def image_exists(self, image: str) -> bool:
        self._check()
        return image in self.images

    async def start(self, spec: ContainerSpec) -> str:
        self._check()
        image = self._image(spec.image)
        cid = self._new_id()
        c = FakeContainer(
            cid, spec, image, dict(spec.labels), env=dict(spec.env), memory_mb=spec.memory_mb
        )
        self.containers[cid] = c
        self.started += 1
        c.task = asyncio.create_task(self._boot(c))
        return cid

    async def _boot(self, c: FakeContainer) -> None:
        image = c.image
        for line in image.boot_lines:
            c.log("stderr", line)
        await asyncio.sleep(image.start_delay)
        if image.init == "exit":
            c.die(image.init_exit_code)
            return
        if image.init == "oom":
            c.die(137, oom=True)
            return
        if image.init == "hang" or c.spec.iofs_dir is None:
            return
        iofs = c.spec.iofs_dir
        if c.spec.entrypoint and "--generic" in c.spec.entrypoint:
            if not await self._generic(c, iofs):
                return
        if image.init == "bad-symlink":
            (iofs / "lsnr.sock").write_text("not a socket")
            return
        phony = iofs / "phonylsnr.sock"
        c.server = await asyncio.start_unix_server(
            lambda r, w: self._serve(c, r, w), path=str(phony)
        )
        os.chmod(phony, 0o666)
        os.symlink("phonylsnr.sock", iofs / "lsnr.sock")

    async def _generic(self, c: FakeContainer, iofs: Path) -> bool:
        """The generic loader (``fdk --generic``): one specialise request on
        ``generic.sock``; True once the container has become that function."""
        got: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = json.loads(await reader.readline())
            c.specialised = request
            code = {m.target: m.source for m in c.spec.mounts}.get("/function")
            argv = request.get("argv") or []
            entry = str(argv[0]) if argv else ""
            ok = code is not None and entry.startswith("/function/")
            ok = ok and (code / entry.removeprefix("/function/")).exists()  # type: ignore[operator]
            if ok:
                c.env.update(request.get("env") or {})
                writer.write(b'{"ok": true}\n')
            else:
                writer.write(json.dumps({"ok": False, "error": f"no {entry}"}).encode() + b"\n")
            await writer.drain()
            writer.close()
            if not got.done():
                got.set_result(ok)

        phony = iofs / "phonygeneric.sock"
        server = await asyncio.start_unix_server(serve, path=str(phony))
        os.chmod(phony, 0o666)
        os.symlink("phonygeneric.sock", iofs / "generic.sock")
        try:
            ok = await got
        finally:
            server.close()
            (iofs / "generic.sock").unlink(missing_ok=True)
            phony.unlink(missing_ok=True)
        if not ok:
            c.die(2)
        return ok

    async def _serve(
        self, c: FakeContainer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        c.writers.add(writer)
        try:
            while not c.exited.is_set():
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, _, v = line.partition(":")
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                c.calls += 1
                status, out_headers, out = await self._handle(c, headers, body)
                if c.exited.is_set():
                    return
                head_out = [f"HTTP/1.1 {status} X", f"Content-Length: {len(out)}"]
                head_out += [f"{k}: {v}" for k, v in out_headers.items()]
                writer.write(("\r\n".join(head_out) + "\r\n\r\n").encode() + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            c.writers.discard(writer)
            writer.transport.abort()

    async def _handle(
        self, c: FakeContainer, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        text = body.decode(errors="replace")
        base = {"Fn-Fdk-Version": "fake/1"}
        if "content-type" in headers:
            base["Content-Type"] = headers["content-type"]
        if text.startswith("sleep:"):
            await asyncio.sleep(float(text[6:]))
        elif text == "hang":
            await asyncio.Event().wait()
        elif text == "raise":
            c.log("stderr", "Traceback: the function raised")
            return 502, {"Content-Type": "application/json"}, b'{"message":"boom"}'
        elif text in ("oom", "crash"):
            c.die(137 if text == "oom" else 3, oom=text == "oom")
            return 0, {}, b""
        elif text.startswith("status:"):
            return int(text[7:]), base, b"odd"
        elif text.startswith("log:"):
            c.log("stderr", text[4:])
        elif text == "headers":
            base["Content-Type"] = "application/json"
            return 200, base, json.dumps(headers).encode()
        elif text == "env":
            base["Content-Type"] = "application/json"
            return 200, base, json.dumps(c.env).encode()
        elif text.startswith("http:"):
            base["Fn-Http-Status"] = text[5:]
            base["Fn-Http-H-X-Fake"] = "yes"
            return 200, base, b"via trigger"
        return 200, base, body

    async def wait(self, container_id: str) -> ExitStatus:
        self._check()
        c = self.containers.get(container_id)
        if c is None:
            return ExitStatus(running=False)
        await c.exited.wait()
        return c.status

    async def inspect(self, container_id: str) -> ExitStatus:
        self._check()
        c = self.containers.get(container_id)
        if c is None:
            raise NotFound(f"No such container: {container_id}")
        return c.status

    async def logs(self, container_id: str) -> AsyncIterator[LogLine]:
        c = self.containers.get(container_id)
        if c is None:
            return
        while (line := await c.lines.get()) is not None:
            yield line

    async def kill(self, container_id: str, signal: str = "SIGKILL") -> None:
        c = self.containers.get(container_id)
        if c is not None:
            c.die(137)

    async def remove(self, container_id: str) -> None:
        self._check()
        c = self.containers.pop(container_id, None)
        if c is None:
            return
        c.die(137)
        if c.task is not None:
            c.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await c.task
        if c.server is not None:
            await c.server.wait_closed()
        self.removed.append(container_id)

    async def list_labelled(self, labels: Mapping[str, str]) -> list[str]:
        self._check()
        return [
            cid
            for cid, c in self.containers.items()
            if all(c.labels.get(k) == v for k, v in labels.items())
        ]

    async def remove_labelled(self, labels: Mapping[str, str]) -> int:
        ids = await self.list_labelled(labels)
        for cid in ids:
            await self.remove(cid)
        return len(ids)

    async def run_default_format(
        self,
        spec: ContainerSpec,
        stdin: bytes,
        time_limit: float,
        stderr_limit: int = 64 * 1024,
        stdout: Pipe | None = None,
        stdin_rest: Reader | None = None,
    ) -> DefaultFormatResult:
        self._check()
        if stdin_rest is not None:
            while (more := await stdin_rest()) is not None:
                stdin += more
        self._image(spec.image)
        self.default_format_runs += 1
        self.default_format_specs.append(spec)
        cid = self._new_id()
        t0 = time.perf_counter()
        text = stdin.decode(errors="replace")
        code, out, err, oom = 0, f"Hello {text} from Fake!\n".encode(), b"", False
        try:
            async with asyncio.timeout(time_limit):
                if text.startswith("sleep:"):
                    await asyncio.sleep(float(text[6:]))
        except TimeoutError:
            return DefaultFormatResult(None, b"", b"", timed_out=True, container_id=cid, run_ms=0)
        if text.startswith("exit:"):
            code, out, err = int(text[5:]), b"partial", b"something went wrong\n"
        elif text == "oom":
            code, out, oom = 137, b"", True
        elif text.startswith("big:"):
            out = b"x" * int(text[4:])
        elif text.startswith("stderr:"):
            err = text[7:].encode() + b"\n"
        elif text.startswith("lines:"):  # n lines, 0.05 s apart (streamed output)
            out = b""
            for i in range(int(text[6:])):
                line = f"line {i}\n".encode()
                if stdout is None:
                    out += line
                else:
                    await stdout.put(line)
                await asyncio.sleep(0.05)
        if stdout is not None:
            await stdout.put(out)
            out = b""
        run_ms = (time.perf_counter() - t0) * 1000
        return DefaultFormatResult(
            code, out, err[:stderr_limit], oom_killed=oom, container_id=cid, run_ms=run_ms
        )

    async def update_memory(self, container_id: str, memory_mb: int) -> None:
        self._check()
        c = self.containers.get(container_id)
        if c is None:
            raise NotFound(f"No such container: {container_id}")
        self.updates.append((container_id, memory_mb))
        c.memory_mb = memory_mb

    async def close(self) -> None:
        for cid in list(self.containers):
            await self.remove(cid)


def _write_files(dest: Path, files: Mapping[str, bytes]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(data)

"""The Docker driver: :class:`DockerDriver`, the :class:`~hotfn.drivers.base.Driver`
protocol on a real Docker Engine, over the Engine API on its unix socket.

JSON endpoints go through aiodocker (one pooled aiohttp session); the hijacked attach
of cold runs and followed logs go through :mod:`hotfn.drivers.docker_attach`, which
can half-close stdin. Every aiodocker/aiohttp error is turned into a hotfn exception
(``engine_errors``, in :mod:`hotfn.drivers.docker_mapping`); nothing above this
module sees a third-party error.

Containers are hardened as in design.md §7 (``container_config``, same module):
``--init``, read-only root filesystem, a bounded tmpfs on ``/tmp`` (the iofs bind mount at
``/tmp/iofs`` lands on top of it: the engine mounts shallower targets first), user
1000:1000, no capabilities, no-new-privileges, memory = memory+swap, pids and
nofile limits, the configured network, and hotfn's labels.

A cold run costs create + attach + start + feed + wait + remove. The slow part is
``start`` (runc); the driver keeps the rest off it: attach right after create,
wait issued while output streams, no log files for cold containers (their output
comes through the attach), and an exit-code-0 run skips the OOM inspect.

Every request has its own bound (:class:`~hotfn.drivers.docker_bounds.EngineBounds`,
applied by ``bounded``): an engine that stops answering is an ``EngineUnavailable``
naming the request, never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import quote

import aiodocker
import aiohttp
from aiodocker.containers import DockerContainer
from aiodocker.exceptions import DockerError
from aiodocker.images import DockerImages
from aiodocker.jsonstream import json_stream_stream

from hotfn.body import Pipe, Reader
from hotfn.drivers.base import (
    LABEL_KIND,
    LABEL_MANAGED,
    ContainerSpec,
    DefaultFormatResult,
    Driver,
    ExitStatus,
    HistoryEntry,
    ImageInfo,
    LogLine,
)
from hotfn.drivers.docker_attach import (
    STDERR,
    STDOUT,
    AttachStream,
    EngineRefused,
    LineSplitter,
    read_archive,
    read_logs,
    request,
)
from hotfn.drivers.docker_bounds import EngineBounds, bounded
from hotfn.drivers.docker_mapping import (
    container_config,
    default_socket,
    engine_errors,
    exit_status,
    pull_errors,
    untar_into,
)
from hotfn.drivers.registry import DOCKER_HUB, RegistryAuth, registry_of
from hotfn.errors import (
    ContainerInitFailed,
    HotfnError,
    ImageNotFound,
    ImagePullFailed,
    NotFound,
)

log = logging.getLogger(__name__)

MAX_LOG_LINE = 64 * 1024  # longer lines are cut into pieces of this size
# How long a SIGKILLed container's OOMKilled may take to show (DockerDriver._exited):
# 0.3 s was too short on a loaded machine (CI, 2026-12-08: an OOM-killed call was
# reported as a plain SIGKILL). Only exits by SIGKILL without OOM wait it out.
OOM_SETTLE_TRIES, OOM_SETTLE_S = 20, 0.05
_STREAMS: dict[int, Literal["stdout", "stderr"]] = {STDOUT: "stdout", STDERR: "stderr"}


class _ClosingImages(DockerImages):
    """aiodocker's images API, but a pull stream given up on (cancelled, stalled
    past ``pull_idle``) closes its response: aiodocker's leaves the connection for
    the garbage collector (a ResourceWarning, and a socket held until then)."""

    async def _handle_stream(self, cm: Any) -> AsyncGenerator[Any, None]:
        async with cm as response:
            try:
                async for item in json_stream_stream(response):
                    yield item
            finally:
                response.close()


class DockerDriver:
    """The real engine. Create it anywhere; it connects on first use (in a loop).

    ``socket_path``: the engine's unix socket (default: ``$DOCKER_HOST`` if it is a
    ``unix://`` URL, else ``/var/run/docker.sock``). ``bounds``: how long each kind
    of request may take before the engine is declared unavailable.
    """

    def __init__(
        self, socket_path: str | None = None, *, bounds: EngineBounds | None = None
    ) -> None:
        self.socket_path = socket_path or default_socket()
        self.bounds = bounds or EngineBounds()
        self._docker: aiodocker.Docker | None = None
        self._cleanups: set[asyncio.Task[None]] = set()

    def _client(self) -> aiodocker.Docker:
        if self._docker is None:
            # No total timeout on the session: each request has its own bound
            # (``bounded``), and wait / pull must outlast any one of them.
            self._docker = aiodocker.Docker(
                url=f"unix://{self.socket_path}",
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.bounds.ping),
            )
        return self._docker

    def _container(self, container_id: str) -> DockerContainer:
        return self._client().containers.container(container_id)

    # -- engine and images -----------------------------------------------------------

    async def ping(self) -> None:
        async with bounded("answer a ping", self.bounds.ping):
            await self._client().version()

    async def pull(self, image: str, auth: RegistryAuth | None = None) -> None:
        engine_auth = None
        if auth is not None:
            engine_auth = auth.engine_auth()
            if registry_of(image) == DOCKER_HUB and not image.startswith(DOCKER_HUB + "/"):
                image = f"{DOCKER_HUB}/{image}"  # aiodocker sends auth only with a host
        with pull_errors(image):
            # An async generator at run time (typed as an iterator): closing it
            # releases the engine connection if the pull is cancelled.
            progress = cast(
                AsyncGenerator[dict[str, Any], None],
                _ClosingImages(self._client()).pull(image, auth=engine_auth, stream=True),
            )
            async with contextlib.aclosing(progress) as events:
                # The engine reports errors inside the stream, and progress while it
                # downloads: a stream that says nothing for pull_idle is stalled.
                idle = self.bounds.pull_idle
                while True:
                    try:
                        async with asyncio.timeout(idle):
                            await anext(events)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        raise ImagePullFailed(
                            f"pulling image {image} failed: the Docker Engine reported no "
                            f"progress for {idle:g} s",
                            reason="timeout",
                        ) from None

    async def remove_image(self, image: str) -> bool:
        async with bounded(f"remove image {image}", self.bounds.remove_image):
            try:
                await self._client().images.delete(image)
            except DockerError as exc:
                if exc.status in (404, 409):  # gone already, or a container uses it
                    return False
                raise
        return True

    async def inspect_image(self, image: str) -> ImageInfo:
        async with bounded(f"inspect image {image}", self.bounds.image_inspect, image=image):
            data = await self._client().images.inspect(image)
        config = data.get("Config") or {}
        return ImageInfo(
            id=str(data["Id"]),
            size=int(data.get("Size") or 0),
            user=str(config.get("User") or ""),
            labels=dict(config.get("Labels") or {}),
            entrypoint=tuple(config.get("Entrypoint") or ()),
            cmd=tuple(config.get("Cmd") or ()),
            workdir=str(config.get("WorkingDir") or ""),
            env=tuple(config.get("Env") or ()),
            layers=tuple((data.get("RootFS") or {}).get("Layers") or ()),
        )

    async def image_history(self, image: str) -> list[HistoryEntry]:
        what = f"read the history of image {image}"
        async with bounded(what, self.bounds.history, image=image):
            steps = await request(self.socket_path, "GET", f"/images/{quote(image)}/history")
        if not isinstance(steps, list):
            raise HotfnError(f"unexpected history of image {image} from the engine")
        # The engine lists the newest step first.
        return [
            HistoryEntry(str(h.get("CreatedBy") or ""), int(h.get("Size") or 0) == 0)
            for h in reversed(steps)
        ]

    async def export_dir(
        self, image: str, path: str, dest: Path, labels: Mapping[str, str] | None = None
    ) -> None:
        # Never started: the entrypoint only has to be valid JSON for create.
        config: dict[str, Any] = {
            "Image": image,
            "Entrypoint": ["/nonexistent"],
            "Labels": {**(labels or {}), LABEL_MANAGED: "1", LABEL_KIND: "export"},
        }
        name = f"hotfn-export-{os.urandom(6).hex()}"
        try:
            what = f"create container {name} of image {image}"
            async with bounded(what, self.bounds.create, image=image):
                container = await self._client().containers.create(config, name=name)
        except BaseException:
            # Cancelled (or timed out) while the engine was creating it, it may exist
            # without our knowing its id: remove it by name now rather than leave it
            # to the sweeps at start and shutdown (which find it by ``labels``).
            await self._remove_now(name)
            raise
        try:
            async with bounded(f"copy {path} out of image {image}", self.bounds.archive):
                data = await read_archive(self.socket_path, container.id, path)
            await asyncio.to_thread(untar_into, data, dest)
        finally:
            await self._remove_now(container.id)

    async def image_exists(self, image: str) -> bool:
        try:
            await self.inspect_image(image)
        except ImageNotFound:
            return False
        return True

    # -- hot containers ----------------------------------------------------------------

    async def _create(self, spec: ContainerSpec, kind: Literal["hot", "default"]) -> str:
        config = container_config(spec, kind)
        async with bounded(f"create container {spec.name}", self.bounds.create, image=spec.image):
            container = await self._client().containers.create(config, name=spec.name)
        return container.id

    async def start(self, spec: ContainerSpec) -> str:
        container_id = await self._create(spec, "hot")
        try:
            await self._start(container_id, spec.name)
        except BaseException:
            await self._remove_now(container_id)
            raise
        return container_id

    async def _start(self, container_id: str, name: str) -> None:
        """Start a created container. The engine refusing is the image's fault (no
        such entrypoint, bad user...): :class:`ContainerInitFailed` with its words."""
        try:
            async with bounded(f"start container {name}", self.bounds.start):
                await self._container(container_id).start()
        except HotfnError as exc:
            if type(exc) is HotfnError:
                raise ContainerInitFailed(f"container failed to start: {exc.message}") from exc
            raise

    async def _wait_code(self, container_id: str) -> int | None:
        """Block until the container is not running; its exit code (None if gone)."""
        try:  # unbounded: it lasts as long as the container; callers bound it
            with engine_errors(f"wait for container {container_id[:12]}"):
                answer = await self._container(container_id).wait(condition="not-running")
        except NotFound:
            return None
        return int(answer.get("StatusCode", -1))

    async def wait(self, container_id: str) -> ExitStatus:
        code = await self._wait_code(container_id)
        if code is None:
            return ExitStatus(running=False, exit_code=None)
        try:
            return await self._exited(container_id)
        except NotFound:  # removed meanwhile: the wait's answer is all there is
            return ExitStatus(running=False, exit_code=code)

    async def _exited(self, container_id: str) -> ExitStatus:
        """The state of a container that has exited, OOMKilled settled.

        The engine may record the exit (137, SIGKILL) before the OOM event that
        caused it: a SIGKILLed container is inspected again for a short while.
        """
        status = await self.inspect(container_id)
        for _ in range(OOM_SETTLE_TRIES):
            if status.oom_killed or status.exit_code != 137:
                break
            await asyncio.sleep(OOM_SETTLE_S)
            status = await self.inspect(container_id)
        return status

    async def inspect(self, container_id: str) -> ExitStatus:
        async with bounded(f"inspect container {container_id[:12]}", self.bounds.inspect):
            data = await self._container(container_id).show()
        return exit_status(data.get("State") or {})

    async def logs(self, container_id: str) -> AsyncIterator[LogLine]:
        lines = LineSplitter(MAX_LOG_LINE)
        last = ""  # timestamp of the last message seen
        # Unbounded: a follow lasts as long as the container; callers bound it.
        with engine_errors(f"follow the logs of container {container_id[:12]}"):
            follow = read_logs(self.socket_path, container_id, follow=True)
            async with contextlib.aclosing(follow) as messages:
                async for stream, stamp, data in messages:
                    last = stamp
                    for s, text in lines.feed(stream, data):
                        yield LogLine(_STREAMS[s], text)
            # The engine (20.10 at least) can end a follow before the last,
            # unterminated piece of output reaches the log: once the container has
            # stopped, read what was logged after the last message seen.
            what = f"read the last logs of container {container_id[:12]}"
            async with bounded(what, self.bounds.logs):
                rest = await self._logs_after(container_id, last)
            for stream, data in rest:
                for s, text in lines.feed(stream, data):
                    yield LogLine(_STREAMS[s], text)
        for s, text in lines.flush():
            yield LogLine(_STREAMS[s], text)

    async def _logs_after(self, container_id: str, last: str) -> list[tuple[int, bytes]]:
        if await self._wait_code(container_id) is None:
            return []
        since = 0
        with contextlib.suppress(ValueError):
            since = int(datetime.fromisoformat(last[:19]).replace(tzinfo=UTC).timestamp())
        try:
            return [
                (stream, data)
                async for stream, stamp, data in read_logs(
                    self.socket_path, container_id, follow=False, since=since
                )
                if stamp > last
            ]
        except EngineRefused as exc:
            if exc.engine_status == 404:  # removed meanwhile
                return []
            raise

    async def kill(self, container_id: str, signal: str = "SIGKILL") -> None:
        try:
            async with bounded(f"kill container {container_id[:12]}", self.bounds.kill):
                await self._container(container_id).kill(signal=signal)
        except NotFound:
            pass
        except HotfnError as exc:
            if "is not running" not in exc.message:
                raise

    async def remove(self, container_id: str) -> None:
        try:
            async with bounded(f"remove container {container_id[:12]}", self.bounds.remove):
                await self._container(container_id).delete(force=True, v=True)
        except NotFound:
            pass
        except HotfnError as exc:
            if "already in progress" not in exc.message:
                raise

    async def list_labelled(self, labels: Mapping[str, str]) -> list[str]:
        filters = json.dumps({"label": [f"{k}={v}" for k, v in labels.items()]})
        async with bounded("list containers", self.bounds.list):
            containers = await self._client().containers.list(all=True, filters=filters)
        return [c.id for c in containers]

    async def remove_labelled(self, labels: Mapping[str, str]) -> int:
        ids = await self.list_labelled(labels)
        await asyncio.gather(*(self.remove(i) for i in ids))
        return len(ids)

    async def update_memory(self, container_id: str, memory_mb: int) -> None:
        memory = memory_mb * 1024 * 1024
        what = f"update the memory of container {container_id[:12]}"
        async with bounded(what, self.bounds.update):
            await request(
                self.socket_path,
                "POST",
                f"/containers/{container_id}/update",
                {"Memory": memory, "MemorySwap": memory},
            )

    # -- cold runs -----------------------------------------------------------------------

    async def run_default_format(
        self,
        spec: ContainerSpec,
        stdin: bytes,
        time_limit: float,
        stderr_limit: int = 64 * 1024,
        stdout: Pipe | None = None,
        stdin_rest: Reader | None = None,
    ) -> DefaultFormatResult:
        t0 = time.perf_counter()
        container_id = await self._create(spec, "default")
        try:
            async with bounded(f"attach to container {spec.name}", self.bounds.attach):
                attach = await AttachStream.open(self.socket_path, container_id)
            try:
                await self._start(container_id, spec.name)
                started = time.perf_counter()
                io = _ColdIO(stdin, stdin_rest, stdout, stderr_limit)
                return await self._converse(container_id, attach, io, time_limit, t0, started)
            finally:
                await attach.close()
        finally:
            await self._remove_now(container_id)

    async def _converse(
        self,
        container_id: str,
        attach: AttachStream,
        io: _ColdIO,
        time_limit: float,
        t0: float,
        started: float,
    ) -> DefaultFormatResult:
        """Feed stdin, read output to EOF and wait, all within ``time_limit``: the
        deadline holds while output waits for a slow reader too (then the
        container is killed, with its own bound)."""
        stdout: list[bytes] = []
        stderr = bytearray()
        stderr_limit = io.stderr_limit
        sink = io.stdout
        exit_code: int | None = None
        timed_out = oom = False
        feed = asyncio.create_task(attach.feed_stdin(io.stdin, io.stdin_rest))
        waiter = asyncio.create_task(self._wait_code(container_id))
        try:
            async with asyncio.timeout(time_limit):
                with engine_errors("stream a container's output"):
                    while (frame := await attach.read_frame()) is not None:
                        stream, data = frame
                        if stream == STDOUT:
                            if sink is None:
                                stdout.append(data)
                            else:
                                await sink.put(data)
                        elif stream == STDERR and len(stderr) < stderr_limit:
                            stderr += data[: stderr_limit - len(stderr)]
                exit_code = await waiter
        except TimeoutError:
            timed_out = True
            await self.kill(container_id)
        finally:
            for task in (feed, waiter):
                task.cancel()
            await asyncio.gather(feed, waiter, return_exceptions=True)
        if exit_code is not None and exit_code != 0:
            # Only a failed run can have been OOM-killed. Past the time limit's scope:
            # a run that ended in time is not made a timeout by the wait for OOMKilled.
            with engine_errors("inspect an exited container"):
                oom = (await self._exited(container_id)).oom_killed
        return DefaultFormatResult(
            exit_code=exit_code,
            stdout=b"".join(stdout),
            stderr=bytes(stderr),
            oom_killed=oom,
            timed_out=timed_out,
            container_id=container_id,
            start_ms=(started - t0) * 1000,
            run_ms=(time.perf_counter() - started) * 1000,
        )

    # -- removal ---------------------------------------------------------------------

    async def _remove_quietly(self, container_id: str) -> None:
        try:
            await self.remove(container_id)
        except HotfnError as exc:
            log.warning("could not remove container %s: %s", container_id[:12], exc)

    async def _remove_now(self, container_id: str) -> None:
        """Remove a container even if the caller is being cancelled meanwhile."""
        task = asyncio.create_task(self._remove_quietly(container_id))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        await asyncio.shield(task)

    async def close(self) -> None:
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)
        if self._docker is not None:
            docker, self._docker = self._docker, None
            await docker.close()


if TYPE_CHECKING:
    _protocol_check: Driver = DockerDriver()


class _ColdIO:
    """What one cold run reads and writes (see ``Driver.run_default_format``)."""

    __slots__ = ("stderr_limit", "stdin", "stdin_rest", "stdout")

    def __init__(
        self, stdin: bytes, stdin_rest: Reader | None, stdout: Pipe | None, stderr_limit: int
    ) -> None:
        self.stdin = stdin
        self.stdin_rest = stdin_rest
        self.stdout = stdout
        self.stderr_limit = stderr_limit

"""Every Engine request of the real DockerDriver has its own bound and its own error.

The driver is pointed at a fake engine: a unix socket that answers the few requests
an operation needs before the one under test (create, delete...) and never answers
the rest. Each operation gets a small bound for its own request and a large one for
every other, so a test passes only if that request uses its own bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hotfn.drivers.base import ContainerSpec
from hotfn.drivers.docker import DockerDriver
from hotfn.drivers.docker_bounds import EngineBounds
from hotfn.errors import EngineUnavailable, HotfnError, ImagePullFailed, InvalidInput

# SMALL leaves room for the answered requests before the held one on a loaded
# 2-core machine (0.2 s was once too little for aiodocker's /version first).
SMALL, LARGE = 0.5, 60.0
CONTAINER_ID = "c0ffee" * 10 + "abcd"

# (method, path prefix) → the raw answer; a request matching none is never answered.
Answers = dict[tuple[str, str], bytes]


def _answer(status: str, body: Any = None) -> bytes:
    data = b"" if body is None else json.dumps(body).encode()
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    return head.encode() + data


# aiodocker asks for the API version before its first request.
VERSION = {("GET", "/version"): _answer("200 OK", {"ApiVersion": "1.41"})}
CREATED = {("POST", "/containers/create"): _answer("201 Created", {"Id": CONTAINER_ID})}
DELETED = {("DELETE", "/containers/"): _answer("204 No Content")}
# A followed log that ends at once (HTTP/1.0: the body ends with the connection).
FOLLOW_ENDS = {("GET", f"/containers/{CONTAINER_ID}/logs"): b"HTTP/1.0 200 OK\r\n\r\n"}


@dataclass
class FakeEngine:
    """A unix-socket "engine" that answers ``answers`` and holds every other request
    (and a chunked answer, once sent, as a stream that stalls)."""

    path: str
    answers: Answers = field(default_factory=dict)
    held: list[str] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            method, target = head.split(" ", 2)[:2]
            path = re.sub(r"^/v[0-9.]+", "", target)  # aiodocker prefixes the API version
            for (m, prefix), raw in self.answers.items():
                if m == method and path.startswith(prefix):
                    writer.write(raw)
                    await writer.drain()
                    if b"chunked" in raw:  # a stream that then stalls
                        await reader.read()
                    break
            else:
                self.held.append(f"{method} {path}")
                await reader.read()  # hold it until the client gives up
        writer.close()


@pytest.fixture
async def fake_engine(tmp_path: Path) -> AsyncIterator[FakeEngine]:
    engine = FakeEngine(str(tmp_path / "engine.sock"))
    server = await asyncio.start_unix_server(engine.handle, engine.path)
    yield engine
    server.close()
    for writer in engine.writers:
        writer.close()
    await server.wait_closed()


DriverFactory = Callable[[str], DockerDriver]


@pytest.fixture
async def make_driver(fake_engine: FakeEngine) -> AsyncIterator[DriverFactory]:
    """A driver on the fake engine whose ``op`` bound is SMALL and every other LARGE."""
    made: list[DockerDriver] = []

    def make(op: str) -> DockerDriver:
        large = {f.name: LARGE for f in dataclasses.fields(EngineBounds)}
        drv = DockerDriver(fake_engine.path, bounds=EngineBounds(**{**large, op: SMALL}))
        made.append(drv)
        return drv

    yield make
    for drv in made:
        await drv.close()


def spec() -> ContainerSpec:
    return ContainerSpec(name="hotfn-bounds-x", image="img:1")


async def _export(d: DockerDriver, tmp: Path) -> None:
    await d.export_dir("img:1", "/function", tmp / "out")


async def _follow(d: DockerDriver, _tmp: Path) -> None:
    async for _ in d.logs(CONTAINER_ID):
        pass


Operation = Callable[[DockerDriver, Path], Awaitable[object]]
SHORT = CONTAINER_ID[:12]
# bound name, what the fake engine answers, the operation, what the error says
CASES: list[tuple[str, Answers, Operation, str]] = [
    ("ping", {}, lambda d, _: d.ping(), "answer a ping"),
    ("create", {}, lambda d, _: d.start(spec()), "create container hotfn-bounds-x"),
    ("start", CREATED | DELETED, lambda d, _: d.start(spec()), "start container hotfn-bounds-x"),
    ("inspect", {}, lambda d, _: d.inspect(CONTAINER_ID), f"inspect container {SHORT}"),
    ("list", {}, lambda d, _: d.list_labelled({"a": "b"}), "list containers"),
    ("list", {}, lambda d, _: d.remove_labelled({"a": "b"}), "list containers"),
    (
        "update",
        {},
        lambda d, _: d.update_memory(CONTAINER_ID, 64),
        f"update the memory of container {SHORT}",
    ),
    (
        "attach",
        CREATED | DELETED,
        lambda d, _: d.run_default_format(spec(), b"", 30),
        "attach to container hotfn-bounds-x",
    ),
    ("archive", CREATED | DELETED, _export, "copy /function out of image img:1"),
    ("history", {}, lambda d, _: d.image_history("img:1"), "read the history of image img:1"),
    ("image_inspect", {}, lambda d, _: d.inspect_image("img:1"), "inspect image img:1"),
    ("remove_image", {}, lambda d, _: d.remove_image("img:1"), "remove image img:1"),
    ("kill", {}, lambda d, _: d.kill(CONTAINER_ID), f"kill container {SHORT}"),
    ("remove", {}, lambda d, _: d.remove(CONTAINER_ID), f"remove container {SHORT}"),
    ("logs", FOLLOW_ENDS, _follow, f"read the last logs of container {SHORT}"),
]


@pytest.mark.parametrize(
    ("op", "answers", "operation", "what"),
    CASES,
    ids=[f"{c[0]}-{c[3].split()[0]}" for c in CASES],
)
async def test_a_request_the_engine_never_answers_fails_within_its_own_bound(
    fake_engine: FakeEngine,
    make_driver: DriverFactory,
    tmp_path: Path,
    op: str,
    answers: Answers,
    operation: Operation,
    what: str,
) -> None:
    fake_engine.answers = answers if op == "ping" else VERSION | answers
    drv = make_driver(op)
    t0 = time.monotonic()
    with pytest.raises(EngineUnavailable) as caught:
        await operation(drv, tmp_path)
    took = time.monotonic() - t0
    assert caught.value.message == f"the Docker Engine did not {what} within {SMALL:g} s"
    assert caught.value.status == 503
    assert took < 5, f"{op} took {took:.1f} s"
    assert fake_engine.held, "the fake engine held no request"


async def test_a_pull_without_progress_ends_at_pull_idle(
    fake_engine: FakeEngine, make_driver: DriverFactory
) -> None:
    # The engine starts the stream and sends one progress event, then nothing.
    event = json.dumps({"status": "Pulling from library/img"}).encode() + b"\r\n"
    chunk = f"{len(event):x}\r\n".encode() + event + b"\r\n"
    started = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    started += b"Transfer-Encoding: chunked\r\n\r\n" + chunk
    for answers in ({}, {("POST", "/images/create"): started}):
        fake_engine.answers = VERSION | answers
        drv = make_driver("pull_idle")
        t0 = time.monotonic()
        with pytest.raises(ImagePullFailed) as caught:
            await drv.pull("img:1")
        assert time.monotonic() - t0 < 5
        assert caught.value.reason == "timeout"
        assert caught.value.message == (
            f"pulling image img:1 failed: the Docker Engine reported no progress for {SMALL:g} s"
        )


async def test_a_start_that_times_out_removes_its_container(
    fake_engine: FakeEngine, make_driver: DriverFactory
) -> None:
    fake_engine.answers = VERSION | CREATED | DELETED
    drv = make_driver("start")
    with pytest.raises(EngineUnavailable):
        await drv.start(spec())
    assert fake_engine.held == [f"POST /containers/{CONTAINER_ID}/start"]
    # The removal was answered (it is not held): the container does not stay behind.


def test_bounds_scale_and_refuse_a_bad_scale() -> None:
    bounds = EngineBounds().scaled(2)
    assert bounds.create == 2 * EngineBounds.create
    assert bounds.pull_idle == 2 * EngineBounds.pull_idle
    for bad in (0, -1, float("nan")):
        with pytest.raises(InvalidInput, match="engine timeout scale must be above 0"):
            EngineBounds().scaled(bad)


def test_an_engine_refusal_names_the_request_without_a_bound() -> None:
    # The bound is only in the timeout's words; a refusal keeps the engine's own.
    from aiodocker.exceptions import DockerError

    from hotfn.drivers.docker_mapping import engine_errors

    with pytest.raises(HotfnError) as caught, engine_errors("kill container abc", bound=10):
        raise DockerError(500, "boom")
    assert caught.value.message == "the Docker Engine refused to kill container abc: boom"

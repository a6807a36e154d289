"""DockerDriver against the real engine (``@pytest.mark.docker``), plus the parts that
need no engine (config building, an unreachable engine).

Every container carries this session's test label; a session finalizer removes any
that is left and fails if there was one.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from hotfn.drivers.base import (
    IOFS_MOUNT,
    LABEL_INSTANCE,
    LABEL_KIND,
    LABEL_MANAGED,
    ContainerSpec,
    Driver,
    Hardening,
)
from hotfn.drivers.docker import DockerDriver
from hotfn.drivers.docker_bounds import EngineBounds
from hotfn.drivers.docker_mapping import container_config
from hotfn.errors import ContainerInitFailed, EngineUnavailable, ImageNotFound, NotFound
from tests.docker_support import (
    BASE_IMAGE,
    TEST_LABEL,
    build_image,
    containers_with,
    docker,
    ensure_images,
    new_session_label,
    remove_containers_with,
)

docker_only = pytest.mark.docker
MB = 1024 * 1024


@pytest.fixture(scope="session")
def session_label() -> Iterator[str]:
    value = new_session_label()
    yield value
    if not os.path.exists("/var/run/docker.sock"):
        return
    left = containers_with({TEST_LABEL: value})
    remove_containers_with({TEST_LABEL: value})
    assert not left, f"containers left behind by the driver tests: {left}"


@pytest.fixture(scope="session")
def engine(session_label: str) -> str:
    """The engine runs and the base image exists; this session's label value."""
    ensure_images()
    return session_label


@pytest.fixture
async def driver(engine: str) -> AsyncIterator[DockerDriver]:
    drv = DockerDriver()
    yield drv
    await drv.close()


@pytest.fixture
def spec(engine: str) -> SpecFactory:
    return SpecFactory(engine)


class SpecFactory:
    """ContainerSpecs of the base image with unique names and the session label."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __call__(self, *cmd: str, **kw: object) -> ContainerSpec:
        kw.setdefault("image", BASE_IMAGE)
        kw.setdefault("network_mode", "none")
        labels = {TEST_LABEL: self.label, LABEL_INSTANCE: "drivertest"}
        labels.update(kw.pop("labels", {}))  # type: ignore[call-overload]
        return ContainerSpec(
            name=f"hotfn-drvtest-{secrets.token_hex(4)}",
            cmd=list(cmd) if cmd else None,
            labels=labels,
            **kw,  # type: ignore[arg-type]
        )


def inspect(container_id: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(docker("inspect", container_id))
    return data[0]


def exists(container_id: str) -> bool:
    return bool(docker("ps", "-aq", "--filter", f"id={container_id}").strip())


# -- no engine needed ------------------------------------------------------------------


def test_satisfies_the_driver_protocol() -> None:
    assert isinstance(DockerDriver(), Driver)


def test_config_hardening_defaults_and_iofs_bind(tmp_path: Path) -> None:
    cfg = container_config(
        ContainerSpec(name="n", image="i", memory_mb=64, iofs_dir=tmp_path, labels={"a": "b"}),
        "hot",
    )
    host = cfg["HostConfig"]
    assert cfg["User"] == "1000:1000"
    assert cfg["Labels"] == {LABEL_MANAGED: "1", LABEL_KIND: "hot", "a": "b"}
    assert host["Init"] is True and host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Memory"] == host["MemorySwap"] == 64 * MB
    assert host["PidsLimit"] == 50
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 350, "Hard": 350}]
    assert host["Tmpfs"] == {"/tmp": "rw,size=64m,mode=1777"}
    assert host["Mounts"][0]["Target"] == IOFS_MOUNT
    assert "NetworkMode" not in host  # the engine's default
    assert not cfg.get("OpenStdin")


def test_config_without_hardening_and_cold_stdin() -> None:
    bare = Hardening(
        init=False, read_only_rootfs=False, tmpfs_tmp=None, user=None, cap_drop_all=False,
        no_new_privileges=False, pids_limit=None, nofile=None,
    )  # fmt: skip
    cfg = container_config(
        ContainerSpec(name="n", image="i", hardening=bare, network_mode="none"), "default"
    )
    host = cfg["HostConfig"]
    for key in ("CapDrop", "SecurityOpt", "PidsLimit", "Ulimits", "Tmpfs", "Mounts"):
        assert key not in host
    assert "User" not in cfg and host["NetworkMode"] == "none"
    assert cfg["OpenStdin"] and cfg["StdinOnce"] and cfg["AttachStdin"]
    assert cfg["Labels"][LABEL_KIND] == "default"


async def test_unreachable_engine_is_engine_unavailable(tmp_path: Path) -> None:
    drv = DockerDriver(socket_path=str(tmp_path / "no-engine.sock"))
    try:
        with pytest.raises(EngineUnavailable):
            await drv.ping()
        with pytest.raises(EngineUnavailable):
            await drv.run_default_format(ContainerSpec(name="x", image=BASE_IMAGE), b"", 5)
        with pytest.raises(EngineUnavailable):
            await drv.list_labelled({"a": "b"})
        with pytest.raises(EngineUnavailable):
            async for _ in drv.logs("abc"):
                pass
        with pytest.raises(EngineUnavailable):
            await drv.update_memory("abc", 64)
    finally:
        await drv.close()


async def test_engine_that_never_answers_is_engine_unavailable(tmp_path: Path) -> None:
    async def accept_and_hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    sock = str(tmp_path / "hung.sock")
    server = await asyncio.start_unix_server(accept_and_hang, sock)
    drv = DockerDriver(socket_path=sock, bounds=EngineBounds().scaled(0.06))
    try:
        t0 = time.monotonic()
        with pytest.raises(EngineUnavailable, match=r"did not answer a ping within 0\.3 s"):
            await drv.ping()
        with pytest.raises(EngineUnavailable):
            await drv.update_memory("abc", 64)
        assert time.monotonic() - t0 < 3
    finally:
        await drv.close()
        server.close()
        await server.wait_closed()


# -- cold runs -------------------------------------------------------------------------

HARDENING_PROBE = r"""
echo "uid=$(id -u)"; echo "gid=$(id -g)"
grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs):' /proc/self/status | tr -d ' \t' | sed 's/:/=/'
if touch /probe 2>/dev/null; then echo rootfs=writable; else echo rootfs=readonly; fi
if touch /tmp/probe 2>/dev/null; then echo tmp=writable; else echo tmp=readonly; fi
echo "nofile=$(ulimit -n)"
echo "pid1=$(cat /proc/1/comm)"
echo "tmpfs=$(grep ' /tmp ' /proc/mounts | cut -d' ' -f3)"
for f in /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max; do
  if [ -r $f ]; then echo "pids=$(cat $f)"; fi
done
for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do
  if [ -r $f ]; then echo "mem=$(cat $f)"; fi
done
f=/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes; if [ -r $f ]; then echo "memsw=$(cat $f)"; fi
f=/sys/fs/cgroup/memory.swap.max; if [ -r $f ]; then echo "swap=$(cat $f)"; fi
echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ,)"
"""


@docker_only
async def test_hardening_visible_inside_the_container(
    driver: DockerDriver, spec: SpecFactory
) -> None:
    res = await driver.run_default_format(spec("sh", "-c", HARDENING_PROBE, memory_mb=96), b"", 20)
    assert res.exit_code == 0, res.stderr
    seen = dict(line.split("=", 1) for line in res.stdout.decode().splitlines())
    assert seen["uid"] == "1000" and seen["gid"] == "1000"
    assert int(seen["CapEff"], 16) == 0 and int(seen["CapPrm"], 16) == 0
    assert int(seen["CapBnd"], 16) == 0
    assert seen["NoNewPrivs"] == "1"
    assert seen["rootfs"] == "readonly"
    assert seen["tmp"] == "writable" and seen["tmpfs"] == "tmpfs"
    assert seen["nofile"] == "350"
    assert seen["pid1"] == "docker-init"
    assert seen["pids"] == "50"
    assert int(seen["mem"]) == 96 * MB
    # No swap: memory+swap = memory (cgroup v1 with swap accounting), swap.max 0 (v2).
    assert seen.get("memsw", str(96 * MB)) == str(96 * MB) and seen.get("swap", "0") == "0"
    assert seen["ifaces"] == "lo,"  # network "none": loopback only


@docker_only
async def test_engine_side_limits_of_a_hot_container(
    driver: DockerDriver, spec: SpecFactory
) -> None:
    cid = await driver.start(spec("sleep", "300", memory_mb=80))
    try:
        host = inspect(cid)["HostConfig"]
        assert host["Memory"] == host["MemorySwap"] == 80 * MB
        assert host["SecurityOpt"] == ["no-new-privileges"] and host["CapDrop"] == ["ALL"]
        assert host["ReadonlyRootfs"] is True and host["Init"] is True
        await driver.update_memory(cid, 64)
        host = inspect(cid)["HostConfig"]
        assert host["Memory"] == host["MemorySwap"] == 64 * MB
    finally:
        await driver.remove(cid)
    assert not exists(cid)


@docker_only
async def test_cold_echo_through_cat(driver: DockerDriver, spec: SpecFactory) -> None:
    res = await driver.run_default_format(spec("cat"), b"hello \x00 world", 20)
    assert (res.exit_code, res.stdout, res.stderr) == (0, b"hello \x00 world", b"")
    assert not res.timed_out and not res.oom_killed
    assert res.start_ms > 0 and res.run_ms > 0
    assert not exists(res.container_id)


@docker_only
async def test_cold_empty_stdin(driver: DockerDriver, spec: SpecFactory) -> None:
    res = await driver.run_default_format(spec("sh", "-c", "wc -c"), b"", 20)
    assert res.stdout.strip() == b"0"


@docker_only
async def test_cold_image_cmd_and_build_image_helper(
    driver: DockerDriver, spec: SpecFactory
) -> None:
    dockerfile = f'FROM {BASE_IMAGE}\nCOPY hello.txt /hello.txt\nCMD ["cat", "/hello.txt"]\n'
    tag = build_image("hotfn-test/driver-hello:latest", dockerfile, {"hello.txt": b"hi there\n"})
    t0 = time.monotonic()
    assert build_image(tag, dockerfile, {"hello.txt": b"hi there\n"}) == tag  # cached
    assert time.monotonic() - t0 < 0.5
    res = await driver.run_default_format(spec(image=tag), b"ignored", 20)
    assert res.stdout == b"hi there\n"
    info = await driver.inspect_image(tag)
    assert info.id.startswith("sha256:") and info.size > 0 and info.user == ""


@docker_only
async def test_cold_10mb_output(driver: DockerDriver, spec: SpecFactory) -> None:
    size = 10 * MB + 3
    cmd = f"head -c {size} /dev/zero | tr '\\0' y"
    res = await driver.run_default_format(spec("sh", "-c", cmd), b"", 60)
    assert res.exit_code == 0
    assert len(res.stdout) == size and res.stdout.count(b"y") == size


@docker_only
async def test_cold_10mb_in_and_out(driver: DockerDriver, spec: SpecFactory) -> None:
    body = os.urandom(10 * MB)
    res = await driver.run_default_format(spec("cat"), body, 60)
    assert res.exit_code == 0 and res.stdout == body


@docker_only
async def test_cold_output_after_stdin_closed(driver: DockerDriver, spec: SpecFactory) -> None:
    script = "cat >/dev/null; sleep 0.2; echo late; head -c 3000000 /dev/zero"
    res = await driver.run_default_format(spec("sh", "-c", script), b"x" * 200_000, 20)
    assert res.exit_code == 0
    assert res.stdout.startswith(b"late\n") and len(res.stdout) == 5 + 3_000_000


@docker_only
async def test_cold_nonzero_exit_and_stderr(driver: DockerDriver, spec: SpecFactory) -> None:
    cmd = "echo out; echo went wrong >&2; exit 7"
    res = await driver.run_default_format(spec("sh", "-c", cmd), b"", 20)
    assert (res.exit_code, res.stdout, res.stderr) == (7, b"out\n", b"went wrong\n")
    assert not res.oom_killed and not res.timed_out


@docker_only
async def test_cold_stderr_is_bounded(driver: DockerDriver, spec: SpecFactory) -> None:
    res = await driver.run_default_format(
        spec("sh", "-c", "head -c 100000 /dev/zero | tr '\\0' e >&2; echo done"), b"", 20, 1000
    )
    assert res.stderr == b"e" * 1000 and res.stdout == b"done\n"


@docker_only
async def test_cold_timeout_kills_and_removes(driver: DockerDriver, spec: SpecFactory) -> None:
    t0 = time.monotonic()
    res = await driver.run_default_format(spec("sh", "-c", "echo started; sleep 60"), b"", 1.0)
    assert time.monotonic() - t0 < 5
    assert res.timed_out and res.exit_code is None
    assert res.stdout == b"started\n"
    assert 900 < res.run_ms < 4000
    assert not exists(res.container_id)


@docker_only
async def test_cold_cancelled_run_is_removed(
    driver: DockerDriver, spec: SpecFactory, engine: str
) -> None:
    s = spec("sleep", "60")
    task = asyncio.create_task(driver.run_default_format(s, b"", 30))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if containers_with({TEST_LABEL: engine, "io.hotfn.kind": "default"}):
            break
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not docker("ps", "-aq", "--filter", f"name={s.name}").strip()


@docker_only
async def test_cold_oom_is_detected(driver: DockerDriver, spec: SpecFactory) -> None:
    hog = "s = 'x' * (400 * 1024 * 1024); print(len(s))"
    res = await driver.run_default_format(spec("python3", "-c", hog, memory_mb=48), b"", 30)
    assert res.oom_killed, res
    assert res.exit_code == 137 and res.stdout == b""


@docker_only
async def test_cold_concurrent_runs(driver: DockerDriver, spec: SpecFactory) -> None:
    bodies = [f"call {i}".encode() for i in range(4)]
    results = await asyncio.gather(*(driver.run_default_format(spec("cat"), b, 30) for b in bodies))
    assert [r.stdout for r in results] == bodies


@docker_only
async def test_missing_image_fails_fast(driver: DockerDriver, spec: SpecFactory) -> None:
    missing = "hotfn-test/does-not-exist:nope"
    t0 = time.monotonic()
    with pytest.raises(ImageNotFound) as err:
        await driver.run_default_format(spec(image=missing), b"", 20)
    assert missing in err.value.message  # the engine's own message
    with pytest.raises(ImageNotFound):
        await driver.start(spec(image=missing))
    with pytest.raises(ImageNotFound):
        await driver.inspect_image(missing)
    assert not await driver.image_exists(missing)
    assert await driver.image_exists(BASE_IMAGE)
    assert time.monotonic() - t0 < 2


@docker_only
async def test_ping(driver: DockerDriver) -> None:
    await driver.ping()


# -- hot containers --------------------------------------------------------------------


@docker_only
async def test_hot_container_sees_iofs_bind_over_tmpfs(
    driver: DockerDriver, spec: SpecFactory, tmp_path: Path
) -> None:
    iofs = tmp_path / "iofs"
    iofs.mkdir()
    iofs.chmod(0o777)
    (iofs / "from-host").write_text("hello from the host")
    bind = f'import socket; socket.socket(socket.AF_UNIX).bind("{IOFS_MOUNT}/x.sock")'
    script = (
        f"cat {IOFS_MOUNT}/from-host; echo; "
        f"python3 -c '{bind}'; "
        f"ln -s x.sock {IOFS_MOUNT}/lsnr.sock; "
        "echo tmp-ok > /tmp/other && cat /tmp/other; "
        "grep ' /tmp ' /proc/mounts | cut -d' ' -f3"
    )
    cid = await driver.start(spec("sh", "-c", script, iofs_dir=iofs))
    try:
        lines = [(line.stream, line.line) async for line in driver.logs(cid)]
        status = await driver.wait(cid)
    finally:
        await driver.remove(cid)
    assert status.exit_code == 0, lines
    assert lines == [
        ("stdout", "hello from the host"),
        ("stdout", "tmp-ok"),
        ("stdout", "tmpfs"),
    ]
    assert (iofs / "x.sock").is_socket() and os.readlink(iofs / "lsnr.sock") == "x.sock"
    assert (iofs / "x.sock").stat().st_uid == 1000


@docker_only
async def test_hot_logs_split_streams_and_lines(driver: DockerDriver, spec: SpecFactory) -> None:
    script = (
        "echo one; echo err1 >&2; printf 'par'; sleep 0.2; echo 'tial'; "
        "head -c 70000 /dev/zero | tr '\\0' L; echo; printf 'no newline at end' >&2"
    )
    cid = await driver.start(spec("sh", "-c", script))
    try:
        lines = [(line.stream, line.line) async for line in driver.logs(cid)]
    finally:
        await driver.remove(cid)
    out = [text for stream, text in lines if stream == "stdout"]
    err = [text for stream, text in lines if stream == "stderr"]
    assert out[:2] == ["one", "partial"]
    assert "".join(out[2:]) == "L" * 70000 and max(len(t) for t in out) <= 64 * 1024
    assert err == ["err1", "no newline at end"]


@docker_only
async def test_hot_logs_closed_early(driver: DockerDriver, spec: SpecFactory) -> None:
    cid = await driver.start(spec("sh", "-c", "echo ready; sleep 300"))
    try:
        it = driver.logs(cid)
        first = await asyncio.wait_for(anext(it), 10)
        assert first.line == "ready"
        await it.aclose()  # type: ignore[attr-defined]
        status = await driver.inspect(cid)
        assert status.running and status.exit_code is None
    finally:
        await driver.remove(cid)


@docker_only
async def test_hot_kill_wait_inspect_remove(driver: DockerDriver, spec: SpecFactory) -> None:
    cid = await driver.start(spec("sleep", "300"))
    waiter = asyncio.create_task(driver.wait(cid))
    await asyncio.sleep(0.2)
    assert not waiter.done()
    await driver.kill(cid)
    status = await asyncio.wait_for(waiter, 10)
    assert not status.running and status.exit_code == 137 and not status.oom_killed
    assert (await driver.inspect(cid)).exit_code == 137
    await driver.kill(cid)  # not running: no error
    await driver.remove(cid)
    await driver.remove(cid)  # gone: no error
    await driver.kill(cid)
    assert not exists(cid)
    with pytest.raises(NotFound):
        await driver.inspect(cid)
    assert (await driver.wait(cid)).exit_code is None


@docker_only
async def test_hot_oom_is_reported(driver: DockerDriver, spec: SpecFactory) -> None:
    hog = "import time; time.sleep(0.3); s = 'x' * (400 * 1024 * 1024)"
    cid = await driver.start(spec("python3", "-c", hog, memory_mb=48))
    try:
        status = await asyncio.wait_for(driver.wait(cid), 30)
    finally:
        await driver.remove(cid)
    assert status.oom_killed and status.exit_code == 137


@docker_only
async def test_hot_start_failure_is_init_failure_and_removed(
    driver: DockerDriver, spec: SpecFactory, engine: str
) -> None:
    # Without --init the engine itself execs the entrypoint, and start fails (with
    # docker-init, start succeeds and the container exits 127).
    s = spec(entrypoint=["/no/such/binary"], hardening=Hardening(init=False))
    with pytest.raises(ContainerInitFailed) as err:
        await driver.start(s)
    assert "/no/such/binary" in err.value.message
    assert not docker("ps", "-aq", "--filter", f"name={s.name}").strip()


@docker_only
async def test_labels_list_and_remove_leftovers(
    driver: DockerDriver, spec: SpecFactory, engine: str
) -> None:
    mine = {"io.hotfn.test.case": secrets.token_hex(4)}
    ids = [await driver.start(spec("sleep", "300", labels=mine)) for _ in range(2)]
    cold_exited = await driver.start(spec("true", labels=mine))
    await driver.wait(cold_exited)
    labels = inspect(ids[0])["Config"]["Labels"]
    assert labels[LABEL_MANAGED] == "1" and labels[LABEL_KIND] == "hot"
    assert labels[TEST_LABEL] == engine
    assert sorted(await driver.list_labelled(mine)) == sorted([*ids, cold_exited])
    assert await driver.list_labelled({**mine, LABEL_KIND: "default"}) == []
    assert await driver.remove_labelled(mine) == 3
    assert await driver.list_labelled(mine) == []
    assert not any(exists(i) for i in ids)


@docker_only
async def test_an_export_carries_the_labels_given_and_is_removed_when_cancelled(
    driver: DockerDriver, engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server killed mid-export leaves the export's container behind: its labels
    # (the instance's) are how the next start's sweep finds it.
    reading = asyncio.Event()

    async def stalled_read(*args: object) -> bytes:
        reading.set()
        await asyncio.sleep(3600)
        return b""

    monkeypatch.setattr("hotfn.drivers.docker.read_archive", stalled_read)
    labels = {TEST_LABEL: engine, LABEL_INSTANCE: f"export-{secrets.token_hex(3)}"}
    export = asyncio.create_task(driver.export_dir(BASE_IMAGE, "/etc", tmp_path / "o", labels))
    await asyncio.wait_for(reading.wait(), 30)
    found = containers_with({LABEL_INSTANCE: labels[LABEL_INSTANCE]})
    assert len(found) == 1
    assert inspect(found[0])["Config"]["Labels"][LABEL_KIND] == "export"
    export.cancel()
    with pytest.raises(asyncio.CancelledError):
        await export
    assert not containers_with({LABEL_INSTANCE: labels[LABEL_INSTANCE]})

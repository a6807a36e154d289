"""Issue 10, "What it must show": /hotwrap, one static executable, makes functions
hot in images without any interpreter, through a real ``hotfn start`` server and the
real engine, under the server's lock-down (read-only root filesystem, user 1000, no
capabilities, pids limit). Images: tests/e2e/hotwrap_images.py."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hotfn.fdk.testing import FnClient
from tests.docker_support import TEST_LABEL, docker, remove_containers_with
from tests.e2e.conftest import E2E, AnywhereImages, Obj
from tests.e2e.hotwrap_images import ARGS
from tests.e2e.reference import EXAMPLE, localized_dockerfile
from tests.e2e.test_reference_example import node_greeting

pytestmark = pytest.mark.docker


def served_by(e2e: E2E, fn: Obj, call_ids: list[str]) -> list[Obj]:
    records = e2e.calls(fn["id"])
    return [records[call_id] for call_id in call_ids]


def one_container(records: list[Obj]) -> str:
    containers = {rec["container_id"] for rec in records}
    assert len(containers) == 1 and None not in containers, containers
    (container,) = containers
    return str(container)


def processes(container: str) -> list[str]:
    """``STAT ARGS`` of every process in the container, zombies included."""
    out = docker("top", container, "-eo", "pid,stat,args").splitlines()
    return [line.split(None, 1)[1] for line in out[1:] if line.strip()]


def call_processes(container: str) -> list[str]:
    """The processes that are neither hotwrap nor the engine's init; none once the
    container has stopped or is gone (the server replaces a timed-out container, in
    the background, so it may go between two looks)."""
    wrappers = ("/hotwrap", "/sbin/docker-init")
    try:
        found = processes(container)
    except RuntimeError as exc:
        if "is not running" in str(exc) or "No such container" in str(exc):
            return []
        raise
    return [p for p in found if not p.split(None, 1)[1].startswith(wrappers)]


def test_node_image_has_no_python3(anywhere_images: AnywhereImages) -> None:
    probe = "command -v python3 || echo none; ls /usr/bin | grep -c '^python' || true"
    out = docker("run", "--rm", "--label", f"{TEST_LABEL}=1", "--entrypoint", "/bin/sh",
                 anywhere_images.reference, "-c", probe)  # fmt: skip
    assert out.split() == ["none", "0"]


def test_reference_example_is_hot_on_an_image_without_python3(
    e2e: E2E, anywhere_images: AnywhereImages
) -> None:
    # The example's Dockerfile.hotwrap as it is, but for its two registry images.
    images = anywhere_images
    local = localized_dockerfile("Dockerfile.hotwrap", images.node_without_python, images.hotwrap)
    original = local.replace(images.node_without_python, "node:8-alpine")
    assert (
        original.replace(images.hotwrap, "fnproject/hotwrap:latest")
        == (EXAMPLE / "Dockerfile.hotwrap").read_text()
    )
    fn = e2e.deploy(anywhere_images.reference, fmt="http-stream", trigger="/hello")
    call_ids = []
    for body in [b"", b"Ann", b"J\xc3\xbcrgen", b"two words"]:
        resp = e2e.http.post(f"/invoke/{fn['id']}", content=body)
        assert resp.status_code == 200, resp.text
        assert resp.content == node_greeting(body)
        call_ids.append(resp.headers["fn-call-id"])
    resp = e2e.http.post(f"/t/{fn['app_name']}/hello", content=b"Trigger")
    assert resp.status_code == 200 and resp.content == node_greeting(b"Trigger"), resp.text
    call_ids.append(resp.headers["fn-call-id"])
    records = served_by(e2e, fn, call_ids)
    assert all(rec["status"] == "success" for rec in records)
    one_container(records)
    assert [rec["start_path"] for rec in records[1:]] == ["hot"] * (len(records) - 1)


def test_scratch_image_serves_hot_calls_from_one_container(
    e2e: E2E, anywhere_images: AnywhereImages
) -> None:
    fn = e2e.deploy(anywhere_images.tool, fmt="http-stream")
    call_ids = []
    for i in range(8):
        resp = e2e.http.post(f"/invoke/{fn['id']}", content=b"n%d\n" % i)
        assert (resp.status_code, resp.content) == (200, b"hello n%d\n" % i), resp.text
        call_ids.append(resp.headers["fn-call-id"])
    records = served_by(e2e, fn, call_ids)
    container = one_container(records)
    assert [rec["start_path"] for rec in records[1:]] == ["hot"] * 7
    assert e2e.inspect(container)["running"]
    # The container was started once, from an image with nothing but these two files.
    assert docker("inspect", "-f", "{{.RestartCount}}", container).strip() == "0"
    layers = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}",
                    anywhere_images.tool)  # fmt: skip
    assert "COPY" in layers and "RUN" not in layers


def test_argv_with_spaces_quotes_and_empty_strings_arrives_exactly(
    e2e: E2E, anywhere_images: AnywhereImages
) -> None:
    fn = e2e.deploy(anywhere_images.argv, fmt="http-stream")
    resp = e2e.http.post(f"/invoke/{fn['id']}", content=b"")
    assert resp.status_code == 200, resp.text
    assert resp.content == "".join(f"<{arg}>" for arg in ARGS).encode()


def test_status_and_headers_from_the_command_reach_the_trigger_caller(
    e2e: E2E, anywhere_images: AnywhereImages
) -> None:
    fn = e2e.deploy(anywhere_images.tool, fmt="http-stream", trigger="/make")
    url = f"/t/{fn['app_name']}/make"
    resp = e2e.http.post(url, content=b"created\n")
    assert resp.status_code == 201, resp.text
    assert resp.headers["location"] == "/items/7" and resp.headers["x-made-by"] == "hotwrap"
    assert resp.content == b"created\n"
    assert not any(name.startswith("fn-http-") for name in resp.headers)
    plain = e2e.http.post(url, content=b"you\n")  # the next call starts from 200 again
    assert plain.status_code == 200 and "x-made-by" not in plain.headers
    assert plain.content == b"hello you\n"


def test_deadline_gives_504_and_leaves_no_process_of_the_call(
    e2e: E2E, anywhere_images: AnywhereImages
) -> None:
    fn = e2e.deploy(anywhere_images.tool, fmt="http-stream", timeout=2)
    warm = e2e.http.post(f"/invoke/{fn['id']}", content=b"warm\n")
    assert warm.status_code == 200, warm.text
    (container,) = {rec["container_id"] for rec in served_by(e2e, fn, [warm.headers["fn-call-id"]])}
    resp = e2e.http.post(f"/invoke/{fn['id']}", content=b"sleep\n")
    assert resp.status_code == 504, resp.text
    if e2e.inspect(container)["running"]:
        # hotwrap killed the command's whole process group, the background sleep
        # too; the killing is asynchronous, so give it a moment.
        give_up = time.monotonic() + 10
        while call_processes(container) and time.monotonic() < give_up:
            time.sleep(0.1)
        assert call_processes(container) == []
    after = e2e.http.post(f"/invoke/{fn['id']}", content=b"again\n")
    assert (after.status_code, after.content) == (200, b"hello again\n"), after.text


def call_log(e2e: E2E, fn: Obj, call_id: str, wanted: str) -> str:
    """The call's log once it holds ``wanted`` (logs are recorded just after the call)."""
    give_up = time.monotonic() + 15
    while True:
        resp = e2e.http.get(f"/v2/fns/{fn['id']}/calls/{call_id}/log")
        text = str(resp.json()["log"]["log"]) if resp.status_code == 200 else ""
        if wanted in text or time.monotonic() > give_up:
            return text
        time.sleep(0.1)


@pytest.fixture
def locked_down(tmp_path: Path) -> Iterator[Callable[..., tuple[str, FnClient]]]:
    """Factory: ``locked_down(image, init=True)`` runs the image as the server's
    driver would (same lock-down), minus the server: the container stays whatever
    a call does, to be inspected. Returns its id and a client on its socket."""
    label = f"{TEST_LABEL}=hotwrap-{secrets.token_hex(4)}"
    clients: list[FnClient] = []

    def run(image: str, *, init: bool = True) -> tuple[str, FnClient]:
        iofs = tmp_path / f"iofs{len(clients)}"
        iofs.mkdir()
        iofs.chmod(0o777)
        container = docker(
            "run", "-d", "--label", label, "--network", "none",
            *(["--init"] if init else []), "--read-only", "--tmpfs", "/tmp:rw,size=64m,mode=1777",
            "--user", "1000:1000", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--pids-limit", "50", "--ulimit", "nofile=350:350",
            "--mount", f"type=bind,source={iofs},target=/tmp/iofs",
            "-e", "FN_FORMAT=http-stream", "-e", "FN_LISTENER=unix:/tmp/iofs/lsnr.sock", image,
        ).strip()  # fmt: skip
        socket = iofs / "lsnr.sock"
        give_up = time.monotonic() + 30
        while not (socket.is_symlink() and socket.exists()):
            assert time.monotonic() < give_up, docker("logs", container, check=False)
            time.sleep(0.01)
        client = FnClient(str(socket), 30)
        clients.append(client)
        return container, client

    yield run
    for client in clients:
        client.close()
    assert remove_containers_with(label) == len(clients)


@pytest.mark.parametrize("init", [True, False], ids=["docker-init", "hotwrap-is-pid-1"])
def test_deadline_kills_the_call_s_processes_inside_the_container(
    anywhere_images: AnywhereImages, locked_down: Callable[..., tuple[str, FnClient]], init: bool
) -> None:
    container, client = locked_down(anywhere_images.tool, init=init)
    assert client.call(b"first\n").body == b"hello first\n"
    reply = client.call(b"sleep\n", deadline=1.0)
    assert reply.status == 504 and "deadline" in json.loads(reply.body)["message"]
    # Killed as a group, the background sleep too, and reaped (as PID 1, hotwrap
    # reaps the orphans it inherits): no process, no zombie of the call is left.
    give_up = time.monotonic() + 10
    while call_processes(container) and time.monotonic() < give_up:
        time.sleep(0.05)
    assert call_processes(container) == []
    assert len(processes(container)) == (2 if init else 1)
    # The same container serves on, as the user the lock-down gave it.
    assert client.call(b"again\n").body == b"hello again\n"
    users = docker("top", container, "-eo", "pid,uid,args").splitlines()[1:]
    assert {line.split()[1] for line in users} == {"1000"}, users


def test_non_zero_exit_gives_502_with_the_stderr_tail_and_the_next_call_works(
    e2e: E2E, anywhere_images: AnywhereImages
) -> None:
    fn = e2e.deploy(anywhere_images.tool, fmt="http-stream")
    resp = e2e.http.post(f"/invoke/{fn['id']}", content=b"fail\n")
    # hotwrap's 502 carries the exit code and the stderr tail; the caller gets the
    # agent's "function failed" (as from Fn) and the call's log gets hotwrap's message.
    assert resp.status_code == 502, resp.text
    call_id = resp.headers["fn-call-id"]
    wanted = f"bad thing happened to {call_id}"
    log = call_log(e2e, fn, call_id, "exited with code 3")
    assert "command exited with code 3; last lines of stderr" in log, log
    assert "first err line" in log and wanted in log, log
    after = e2e.http.post(f"/invoke/{fn['id']}", content=b"fine\n")
    assert (after.status_code, after.content) == (200, b"hello fine\n"), after.text
    records = served_by(e2e, fn, [call_id, after.headers["fn-call-id"]])
    assert records[0]["status"] == "error" and records[1]["status"] == "success"
    assert one_container(records)  # the failure did not cost the hot container

"""Faults inside function containers, on the real engine through a real server:
a hot container killed mid-call, a function that hangs, and a fork bomb, a memory
hog and a disk filler that must stay inside their limits while a neighbouring
function keeps answering."""

from __future__ import annotations

import time

import pytest

from tests.docker_support import docker
from tests.faults.support import (
    Background,
    DeployFactory,
    container_exists,
    wait_until,
)

pytestmark = pytest.mark.docker


def test_hot_container_sigkilled_mid_call_gives_502_then_a_new_container(
    deploy: DeployFactory,
) -> None:
    d = deploy()
    fn = d.fn()
    first = d.call(fn, "id")
    assert first.status_code == 200, first.text
    container = d.record(fn, first.headers["fn-call-id"])["container_id"]
    assert container

    caller, answer = d.call_in_thread(fn, "sleep:30")
    # The long call runs on the one hot container; kill it from outside.
    assert wait_until(lambda: bool(d.running_calls(fn)), 10), "the call never started"
    time.sleep(0.3)  # well inside the handler's sleep
    docker("kill", "-s", "KILL", container)
    caller.join(30)
    assert answer, "the call did not end after its container was killed"
    resp = answer[0]
    assert resp.status_code == 502, resp.text
    message = resp.json()["message"]
    assert "exited with code 137 (killed by SIGKILL) during the call" in message, message
    assert resp.headers["fn-call-id"]

    after = d.call(fn, "id")
    assert after.status_code == 200, after.text
    assert after.json()["host"] != first.json()["host"]  # a new container
    assert d.record(fn, after.headers["fn-call-id"])["container_id"] != container


def test_hanging_function_times_out_with_504_and_its_container_goes(
    deploy: DeployFactory,
) -> None:
    d = deploy()
    hanging = d.fn(timeout=2)
    good = d.fn()
    assert d.call(good, "warm").status_code == 200
    with Background(d, good) as neighbour:
        resp = d.call(hanging, "hang")
        assert resp.status_code == 504, resp.text
        assert resp.json() == {"message": "Timed out"}
    neighbour.check()
    container = d.record(hanging, resp.headers["fn-call-id"])["container_id"]
    assert container
    assert wait_until(lambda: not container_exists(container), 15), "hung container kept"
    assert d.call(hanging, "again").status_code == 200  # a fresh container serves


def test_fork_bomb_memory_hog_and_disk_filler_are_contained(deploy: DeployFactory) -> None:
    d = deploy()
    good = d.fn()
    bomb = d.fn(timeout=4)
    hog = d.fn(memory=64)
    filler = d.fn()
    assert d.call(good, "warm").status_code == 200
    with Background(d, good) as neighbour:
        # Fork bomb: the pids limit (50) stops it; it never answers, so 504 and the
        # container (with every process in it) is removed.
        resp = d.call(bomb, "forkbomb")
        assert resp.status_code == 504, resp.text
        assert resp.json()["message"] == "Timed out"
        bomb_container = d.record(bomb, resp.headers["fn-call-id"])["container_id"]

        # Memory hog: the OOM killer ends it inside its 64 MB; the message says so.
        resp = d.call(hog, "memhog")
        assert resp.status_code == 502, resp.text
        assert "out of memory (limit 64 MB)" in resp.json()["message"]

        # Disk filler: /tmp is a 64 MB tmpfs, the rest is read-only: it fails with
        # ENOSPC, reported as a function failure with the error in the call's log.
        resp = d.call(filler, "diskfill")
        assert resp.status_code == 502, resp.text
        assert resp.json() == {"message": "function failed"}
        log = d.log(filler, resp.headers["fn-call-id"])
        assert "No space left on device" in log, log
        # The filler's container is still there and still serves.
        assert d.call(filler, "still here").text == "still here"
    neighbour.check()
    assert wait_until(lambda: not container_exists(bomb_container), 15)
    # Each fn serves again afterwards.
    for fn in (bomb, hog):
        resp = d.call(fn, "id")
        assert resp.status_code == 200, resp.text

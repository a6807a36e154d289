"""The Docker daemon restarts while a server runs: calls get 503 with a clear message
while it is down and succeed again once it is back, without restarting hotfn.

This stops the machine's real dockerd (SIGTERM, as a service manager would; without
live-restore that stops every container) and starts it again exactly as
``scripts/ensure-docker`` does. The daemon is always left running, even when the
test fails. Other processes using the engine meanwhile see it go away.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx
import pytest

from tests.docker_support import ROOT
from tests.faults.support import DeployFactory, wait_until

pytestmark = pytest.mark.docker


def _dockerd_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def _engine_answers() -> bool:
    proc = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30)
    return proc.returncode == 0


def _stop_dockerd() -> None:
    pids = _dockerd_pids()
    assert pids, "no dockerd process to stop"
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    # It stops its containers first (up to its shutdown timeout), then exits.
    assert wait_until(lambda: not _dockerd_pids(), 90, step=0.2), "dockerd did not stop"


def _start_dockerd() -> None:
    subprocess.run(
        [str(ROOT / "scripts" / "ensure-docker")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=True,
    )


def test_engine_restart_gives_503_then_recovers(deploy: DeployFactory) -> None:
    d = deploy()
    hot = d.fn()
    cold = d.fn(format="default", image="hotfn/base:latest")  # never runs: engine down
    assert d.call(hot, "before").text == "before"
    try:
        _stop_dockerd()
        # The hot container died with the engine; its call fails fast with 503.
        for fn in (hot, cold, d.fn()):
            started = time.monotonic()
            resp = d.call(fn, "while down", timeout=60)
            assert resp.status_code == 503, resp.text
            assert resp.headers.get("retry-after"), resp.headers
            message = resp.json()["message"]
            assert message.startswith("the Docker Engine is not reachable"), message
            assert time.monotonic() - started < 30, "a call hung on the dead engine"
    finally:
        if not _engine_answers():
            _start_dockerd()

    # Back: calls succeed again on the same server process (a retry or two may still
    # see the engine coming up: only 503s are allowed meanwhile).
    seen: list[int] = []

    def served() -> bool:
        try:
            resp = d.call(hot, "after", timeout=60)
        except httpx.HTTPError:
            return False
        seen.append(resp.status_code)
        return resp.status_code == 200 and resp.text == "after"

    assert wait_until(served, 60, step=0.5), f"no success after the engine came back: {seen}"
    assert set(seen) <= {200, 503}, seen
    assert d.server.proc is not None and d.server.proc.poll() is None  # same server

"""A Docker Engine that stops answering never hangs a call or the shutdown (issue 12).

A real ``hotfn start`` server talks to the real engine through a proxy
(``tests.faults.stall_proxy``) that black-holes chosen requests. Its engine bounds
are scaled down (``HOTFN_ENGINE_TIMEOUT_SCALE``) so that each test takes seconds.
"""

from __future__ import annotations

import re
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotfn.drivers.docker_bounds import EngineBounds
from tests.faults.stall_proxy import StallingProxy
from tests.faults.support import DeployFactory, instance_containers, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SCALE = 0.1
BOUNDS = EngineBounds().scaled(SCALE)  # create 3 s, start 6 s, remove 2 s, list 1 s
DRAIN_S = 3


@pytest.fixture
def proxy() -> Iterator[StallingProxy]:
    # Not pytest's tmp_path: a unix socket's path must stay under 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="stall-", dir="/tmp"))
    stalling = StallingProxy(folder / "engine.sock").start()
    yield stalling
    stalling.unstall()
    stalling.stop()
    shutil.rmtree(folder, ignore_errors=True)


def _env(proxy: StallingProxy) -> dict[str, str]:
    return {
        "DOCKER_HOST": f"unix://{proxy.path}",
        "HOTFN_ENGINE_TIMEOUT_SCALE": str(SCALE),
        "HOTFN_GENERIC_POOL_SIZE": "0",  # only the calls' own containers
        "HOTFN_DRAIN_TIMEOUT": str(DRAIN_S),
    }


@pytest.mark.parametrize(
    ("fn_format", "request_part", "what", "bound"),
    [
        ("http-stream", "/containers/create", "create", BOUNDS.create),
        ("http-stream", "/start", "start", BOUNDS.start),
        ("default", "/attach", "attach to", BOUNDS.attach),  # a cold run's own request
    ],
)
def test_a_call_whose_container_request_hangs_ends_with_a_clear_503_within_its_bound(
    proxy: StallingProxy,
    deploy: DeployFactory,
    fn_format: str,
    request_part: str,
    what: str,
    bound: float,
) -> None:
    d = deploy(**_env(proxy))
    fn = d.fn(format=fn_format)
    proxy.stall("POST", request_part)
    t0 = time.monotonic()
    resp = d.call(fn, "hello")
    took = time.monotonic() - t0
    proxy.unstall()
    assert resp.status_code == 503, resp.text
    message = resp.json()["message"]
    pattern = rf"the Docker Engine did not {what} container \S+ within {bound:g} s"
    assert re.fullmatch(pattern, message), message
    assert bound <= took < bound + 5, f"the call took {took:.1f} s"
    assert any(request_part in held for held in proxy.held), proxy.held
    if call_id := resp.headers.get("fn-call-id"):
        record = d.record(fn, call_id)
        assert message in str(record), record
    # The created container of a start (or attach) that hung was removed (the
    # removal was answered); the engine answering again, the next call works.
    assert not instance_containers(d.instance)
    if fn_format != "default":  # the image is an FDK function: it answers hot only
        assert d.call(fn, "hello").status_code == 200


def test_sigterm_while_the_engine_stalls_exits_0_in_time_and_leaves_nothing(
    proxy: StallingProxy, deploy: DeployFactory
) -> None:
    d = deploy(**_env(proxy))
    fn = d.fn(timeout=120)
    assert d.call(fn, "warm").status_code == 200  # a hot container is running
    thread, _answer = d.call_in_thread(fn, "hang")
    assert wait_until(lambda: bool(d.running_calls(fn)), 30)
    proxy.stall("*", "")  # from now on the engine answers nothing
    proc = d.server.proc
    assert proc is not None
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(DRAIN_S + 5 + 20)  # drain timeout + 5 s is the goal, checked below
    took = time.monotonic() - t0
    log = d.server.log()
    assert code == 0, log
    assert "Traceback" not in log, log
    assert took < DRAIN_S + 5, f"exit took {took:.1f} s:\n{log}"
    # The shutdown said which requests the engine did not answer.
    assert re.search(r"the Docker Engine did not (remove container|list containers)", log), log
    thread.join(10)
    # Once the engine answers again, the next start of this instance removes what
    # the stalled engine could not.
    proxy.unstall()
    deploy(**_env(proxy), HOTFN_INSTANCE=d.instance)
    assert wait_until(lambda: not instance_containers(d.instance), 10)

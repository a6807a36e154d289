"""What a function container can see and do, asserted from inside: a probe function
(hotfn's Python FDK on hotfn/python) reports its identity, capabilities, file
system and network, on a real server with network mode ``none``."""

from __future__ import annotations

import pytest

from tests.faults.support import DeployFactory

pytestmark = pytest.mark.docker


def test_probe_container_is_locked_down(deploy: DeployFactory) -> None:
    d = deploy(HOTFN_NETWORK="none")
    fn = d.fn()
    resp = d.call(fn, f"probe:{d.server.port}")
    assert resp.status_code == 200, resp.text
    probe = resp.json()

    # A non-root user with no capabilities, unable to gain any.
    assert (probe["uid"], probe["gid"]) == (1000, 1000)
    assert 0 not in probe["groups"]
    for caps in ("CapEff", "CapPrm", "CapBnd"):
        assert int(probe[caps], 16) == 0, (caps, probe[caps])
    assert probe["NoNewPrivs"] == "1"

    # Read-only root file system; only /tmp (a tmpfs) is writable.
    assert probe["write_root"] == "Read-only file system"
    assert probe["write_usr"] == "Read-only file system"
    assert probe["write_tmp"] == "ok"
    root = [line.split() for line in probe["mounts"].splitlines() if line.split()[1] == "/"]
    assert root and "ro" in root[0][3].split(","), root
    tmp = [line.split() for line in probe["mounts"].splitlines() if line.split()[1] == "/tmp"]
    assert tmp and tmp[0][2] == "tmpfs", tmp

    # Nothing of the host: no Docker socket, no host directories or tools.
    assert probe["visible"] == []
    assert "docker.sock" not in probe["mounts"]

    # No network but loopback: the server's port on the host is not reachable, and
    # nothing outside is routable.
    assert probe["interfaces"] == ["lo"]
    assert probe["connect_host_port"] == "Connection refused"
    assert probe["connect_outside"] == "Network is unreachable"

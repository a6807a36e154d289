"""Test hosts in network namespaces: each its own network stack (a veth on one
bridge), its own Docker Engine with its own data root, and a hotfn server.

The layout of several machines, on one: ``10.231.K.0/24`` on a bridge of the root
namespace (K picked free per session), the root side at ``.1``, host i at
``.1i``. What the hosts share is reached at ``.1``: PostgreSQL and the one registry,
through an nginx ``stream`` forwarder (both listen on 127.0.0.1 only). The engines
are started with ``nsenter --net`` (not ``ip netns exec``, which mounts a new
/sys and hides the cgroup hierarchies dockerd needs). Nothing leaves the machine.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from hotfn.cluster.local import answers, stop_pid
from tests.server_support import ROOT
from tests.waiting import wait_until

DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


def sh(*args: str, check: bool = True) -> str:
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def free_subnet() -> int:
    used = sh("ip", "-o", "-4", "addr")
    for k in random.sample(range(10, 250), 240):
        if f"10.231.{k}." not in used:
            return k
    raise RuntimeError("no free 10.231.K.0/24")


@dataclass
class NetnsHost:
    """One namespace: its engine and (once started) its hotfn server."""

    index: int
    netns: str
    ip: str
    root: Path  # data root, exec root, server data dir
    dockerd: subprocess.Popen[bytes] | None = None
    server: subprocess.Popen[bytes] | None = None
    instance: str = ""

    @property
    def sock(self) -> str:
        return str(self.root / "docker.sock")

    @property
    def url(self) -> str:
        return f"http://{self.ip}:8080"

    def docker(self, *args: str, check: bool = True) -> str:
        return sh(DOCKER, "-H", f"unix://{self.sock}", *args, check=check)

    @staticmethod
    def _spawn(args: list[str], env: Mapping[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            args, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )

    def in_netns(self, *args: str) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.netns}", *args]

    def start_engine(self, registry: str) -> None:
        with open(self.root / "dockerd.log", "ab") as log:
            self.dockerd = self._spawn(
            self.in_netns(
                "dockerd", "--bridge=none", "--iptables=false", "--ip-masq=false",
                "--data-root", str(self.root / "docker"), "--exec-root", str(self.root / "x"),
                "--pidfile", str(self.root / "docker.pid"), "--host", f"unix://{self.sock}",
                "--insecure-registry", registry,
            ), os.environ, log)  # fmt: skip
        wait_until(self.engine_answers, within_s=60, what=f"the engine of {self.netns}")

    def engine_answers(self) -> bool:
        return bool(self.docker("version", "-f", "{{.Server.Version}}", check=False).strip())

    def start_server(self, db_url: str, instance: str, **env: str) -> None:
        self.instance = instance
        data = self.root / "hotfn"
        data.mkdir(exist_ok=True)
        full = {**os.environ, "DOCKER_HOST": f"unix://{self.sock}", "HOTFN_DATA_DIR": str(data),
                "HOTFN_INSTANCE": instance, "HOTFN_NETWORK": "none", "HOTFN_INSECURE": "1",
                "HOTFN_GENERIC_POOL_SIZE": "0", "HOTFN_DRAIN_TIMEOUT": "5", **env}  # fmt: skip
        with open(data / "server.log", "ab") as log:
            self.server = self._spawn(
                self.in_netns(sys.executable, "-m", "hotfn.cli.main", "start", "--host",
                              self.ip, "--port", "8080", "--db", db_url), full, log,
            )  # fmt: skip
        wait_until(lambda: answers(self.url), within_s=60, what=f"the server of {self.netns}")

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGINT)
            try:
                self.server.wait(30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        if self.dockerd is not None and self.dockerd.poll() is None:
            # Whatever the server left, the engine and its data root go with it.
            ids = self.docker("ps", "-aq", check=False).split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
            stop_pid(self.dockerd.pid, 30)
            self.dockerd.wait()


@dataclass
class NetnsHosts:
    """The bridge, the namespaces, and the forwarder of shared services."""

    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    subnet: int = 0
    hosts: list[NetnsHost] = field(default_factory=list)
    forwarder: subprocess.Popen[bytes] | None = None
    work: Path = Path()

    @property
    def bridge(self) -> str:
        return f"hfb{self.tag}"

    @property
    def gateway(self) -> str:
        return f"10.231.{self.subnet}.1"

    def create(self, count: int) -> None:
        self.subnet = free_subnet()
        self.work = Path("/var/tmp") / f"hotfn-hosts-{self.tag}"
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for i in range(1, count + 1):
            netns, outer, inner = f"hfn-{self.tag}-{i}", f"hfv{self.tag}{i}", f"hfp{self.tag}{i}"
            ip = f"10.231.{self.subnet}.{10 + i}"
            sh("ip", "netns", "add", netns)
            sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            sh("ip", "link", "set", outer, "master", self.bridge, "up")
            sh("ip", "link", "set", inner, "netns", netns)
            run = ["ip", "netns", "exec", netns, "ip"]
            sh(*run, "link", "set", inner, "name", "eth0")
            sh(*run, "addr", "add", f"{ip}/24", "dev", "eth0")
            sh(*run, "link", "set", "eth0", "up")
            sh(*run, "link", "set", "lo", "up")
            root = self.work / f"h{i}"
            root.mkdir(parents=True)
            self.hosts.append(NetnsHost(i, netns, ip, root))

    def forward(self, nginx: str, ports: dict[int, str]) -> None:
        """Listen on the gateway's ``port`` for each ``port → 127.0.0.1:P`` given."""
        servers = "".join(
            f"    server {{ listen {self.gateway}:{port}; proxy_pass {target}; }}\n"
            for port, target in ports.items()
        )
        conf = self.work / "forward.conf"
        conf.write_text(
            f"load_module {STREAM_MODULE};\nworker_processes 1;\npid {self.work}/fwd.pid;\n"
            f"error_log {self.work}/fwd.log warn;\nevents {{}}\nstream {{\n{servers}}}\n"
        )
        self.forwarder = subprocess.Popen(
            [nginx, "-c", str(conf), "-p", str(self.work), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL,
        )
        time.sleep(0.3)
        if self.forwarder.poll() is not None:
            raise RuntimeError((self.work / "fwd.log").read_text())

    def destroy(self) -> None:
        for host in self.hosts:
            host.stop()
        if self.forwarder is not None:
            self.forwarder.terminate()
            self.forwarder.wait(10)
        for host in self.hosts:
            sh("ip", "netns", "del", host.netns, check=False)
            sh("ip", "link", "del", f"hfv{self.tag}{host.index}", check=False)
        sh("ip", "link", "del", self.bridge, check=False)
        shutil.rmtree(self.work, ignore_errors=True)

"""A hotfn cluster on this machine: N ``hotfn start`` servers and one nginx.

The servers share one database (PostgreSQL) and one Docker Engine; each has its own
port, data dir and so its own instance label (``<data_dir>/instance``), which names
its containers and, in the ``Hotfn-Node`` header, the node. ``up`` and ``down`` are
idempotent: they keep pid files under the cluster's dir and act on what runs.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hotfn.cluster.nginx_conf import SPILL_LOCATION, Routing, main_config, render


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child) is not alive.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a hotfn server (or nginx in front of one) answers its ping; ``url``
    is ``http://host:port`` or ``unix:/path`` (a server on a unix socket)."""
    if url.startswith("unix:"):
        conn = _UnixHTTPConnection(url[5:], timeout)
        try:
            conn.request("GET", "/")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()
    try:
        with urllib.request.urlopen(url + "/", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until_answers(url: str, timeout: float, pid: int | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(url):
            return
        if pid is not None and not _alive(pid):
            raise RuntimeError(f"the process {pid} behind {url} exited at start")
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def node_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a node: its data dir, and spilling on via nginx."""
    return {
        **os.environ,
        "HOTFN_DATA_DIR": str(data_dir),
        "HOTFN_SPILL_TO": SPILL_LOCATION,
        **extra,
    }


def stop_pid(pid: int, timeout: float, sig: int = signal.SIGTERM) -> None:
    """``sig``, then SIGKILL if the process is still there after ``timeout``."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


@dataclass
class Nginx:
    """nginx with a config and every file of its own under ``prefix``."""

    prefix: Path
    binary: str = "nginx"

    @property
    def conf(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def pid_file(self) -> Path:
        return self.prefix / "nginx.pid"

    def write(self, routing: Routing, workers: int | str = 1) -> None:
        self.prefix.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(main_config(render(routing), self.prefix.resolve(), workers))
        self.check()

    def check(self) -> None:
        """``nginx -t`` of the config as written (a RuntimeError with its message)."""
        self._run("-t", "-q")

    def _run(self, *args: str) -> None:
        cmd = [self.binary, "-c", str(self.conf.resolve()), "-p", str(self.prefix.resolve())]
        out = subprocess.run([*cmd, *args], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"nginx {' '.join(args)} failed: {out.stderr.strip()}")

    def pid(self) -> int | None:
        return _read_pid(self.pid_file)

    def start_or_reload(self) -> None:
        """Start nginx (it daemonises itself), or reload the written config."""
        if self.pid() is not None:
            self._run("-s", "reload")
        else:
            self._run()

    def foreground(self) -> subprocess.Popen[bytes]:
        """nginx as a child process (tests): stop it with :meth:`stop`."""
        cmd = [self.binary, "-c", str(self.conf.resolve()), "-p", str(self.prefix.resolve()),
               "-g", "daemon off;"]  # fmt: skip
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL)

    def stop(self, timeout: float = 10.0) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, timeout, signal.SIGQUIT)  # graceful: in-flight calls finish


@dataclass
class LocalCluster:
    """``scripts/cluster``'s cluster: nodes on ``port+1 …``, nginx on ``port``.

    With ``unix_sockets`` each node listens on ``<node dir>/server.sock`` instead of
    a port, and nginx reaches it there (docs/scale-out.md: the cheaper hop when
    nginx and the nodes share a machine)."""

    root: Path
    db_url: str
    port: int = 8080
    host: str = "127.0.0.1"
    unix_sockets: bool = False
    # Nodes this object started: polled after a stop, so none stays a zombie here.
    _spawned: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def node_dir(self, index: int) -> Path:
        return self.root / f"node{index}"

    def node_url(self, index: int) -> str:
        """``http://host:port`` of a node, or ``unix:/path`` of its socket."""
        if self.unix_sockets:
            return f"unix:{self.socket_dir.resolve() / f'node{index}.sock'}"
        return f"http://{self.host}:{self.port + index}"

    @property
    def socket_dir(self) -> Path:
        """Where the nodes' unix sockets are: apart from their data dirs, since nginx's
        workers (``nobody`` or ``www-data`` when nginx runs as root) must reach them."""
        return self.root / "sockets"

    def _open_socket_dir(self) -> None:
        # Search permission only (no listing) on the way to the sockets, which uvicorn
        # makes 0666: as reachable as a loopback port, and no more.
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        for path in (self.root, self.socket_dir):
            os.chmod(path, path.stat().st_mode | 0o111)

    def node_address(self, index: int) -> str:
        """A node as nginx's ``server`` line names it: ``host:port`` or ``unix:/path``."""
        return self.node_url(index).removeprefix("http://")  # unix:/path stays as it is

    def running_nodes(self) -> dict[int, int]:
        """Node index → pid of every node that runs."""
        out = {}
        for pid_file in self.root.glob("node*/server.pid"):
            index = int(pid_file.parent.name[4:])
            pid = _read_pid(pid_file)
            if pid is not None:
                out[index] = pid
        return out

    def start_node(self, index: int, env: Mapping[str, str] | None = None) -> int:
        data = self.node_dir(index)
        data.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "hotfn.cli.main", "start", "--port",
                str(self.port + index), "--db", self.db_url]  # fmt: skip
        if self.unix_sockets:
            args += ["--uds", self.node_url(index).removeprefix("unix:")]
        with open(data / "server.log", "ab") as log:
            proc = subprocess.Popen(
                args, env=node_env(data, **(env or {})), stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True,  # outlives `cluster up`
            )  # fmt: skip
        (data / "server.pid").write_text(f"{proc.pid}\n")
        (data / "listen").write_text(self.node_url(index) + "\n")
        self._spawned.append(proc)
        return proc.pid

    def _listens_at(self, index: int) -> str:
        try:
            return (self.node_dir(index) / "listen").read_text().strip()
        except FileNotFoundError:  # started before the file was kept: on its port
            return f"http://{self.host}:{self.port + index}"

    def _reap(self) -> None:
        self._spawned = [p for p in self._spawned if p.poll() is None]

    def up(self, count: int, timeout: float = 60.0) -> list[str]:
        """Exactly ``count`` nodes behind nginx; the URLs of the nodes."""
        if count < 1:
            raise ValueError("a cluster has at least one node")
        if self.unix_sockets:
            self._open_socket_dir()
        running = self.running_nodes()
        for index, pid in list(running.items()):
            # Past count, or listening where this cluster no longer looks (up with
            # another --uds): stopped, the latter started again below.
            if index > count or self._listens_at(index) != self.node_url(index):
                stop_pid(pid, 40.0)
                del running[index]
        started = {i: self.start_node(i) for i in range(1, count + 1) if i not in running}
        for index in range(1, count + 1):
            try:
                wait_until_answers(self.node_url(index), timeout, started.get(index))
            except RuntimeError as exc:
                log = (self.node_dir(index) / "server.log").read_text(errors="replace")
                raise RuntimeError(f"{exc}; the end of its log:\n{log[-3000:]}") from None
        nginx = Nginx(self.root / "nginx")
        nodes = tuple(self.node_address(i) for i in range(1, count + 1))
        nginx.write(Routing(listen=f"{self.host}:{self.port}", nodes=nodes))
        nginx.start_or_reload()
        wait_until_answers(self.url, timeout)
        self._reap()
        return [self.node_url(i) for i in range(1, count + 1)]

    def down(self, timeout: float = 40.0) -> None:
        """Stop nginx, then every node (SIGTERM: they drain and remove their containers)."""
        Nginx(self.root / "nginx").stop()
        for pid in self.running_nodes().values():
            os.kill(pid, signal.SIGTERM)
        for pid in self.running_nodes().values():
            stop_pid(pid, timeout)
        self._reap()

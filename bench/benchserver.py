"""A ``hotfn start`` server for benchmarks: its own data dir, port and instance name,
network mode ``none``; stopped with Ctrl-C, and whatever containers it left behind
are reported and removed."""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hotfn.cluster.local import answers  # noqa: E402
from tests.docker_support import docker  # noqa: E402


def proc_times(pid: int) -> tuple[float, float, float, float]:
    """CPU seconds of a process from ``/proc/PID/stat``: user, system (all its
    threads), then user and system of its children it has waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    user, system, cuser, csystem = (int(x) / tick for x in fields[11:15])
    return user, system, cuser, csystem


# Servers started and not stopped yet: stopped at exit, also when the benchmark is
# sent SIGTERM (as `kill` or a CI timeout does), which otherwise ends the script at
# once and leaves its server, the server's containers and its data dir behind.
_LIVE: set[BenchServer] = set()


def _stop_live() -> None:
    for server in list(_LIVE):
        server.stop()


def _on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: finally blocks and atexit run


signal.signal(signal.SIGTERM, _on_sigterm)
atexit.register(_stop_live)


def callgrind_prefix(out: Path) -> tuple[str, ...]:
    """The command a server runs under to be counted by callgrind into ``out`` (names
    uncompressed: each dump can be read by callgrind_annotate alone)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("valgrind is missing: run scripts/ensure-valgrind")
    return (valgrind, "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no",
            "--compress-strings=no")  # fmt: skip


async def callgrind_idle(pid: int, out: Path, seconds: float) -> float:
    """Zero ``pid``'s counters, let it idle for ``seconds`` and dump: its idle
    instructions per second (timers, housekeeping), to subtract from a busy dump."""
    await asyncio.to_thread(subprocess.run, ["callgrind_control", "-z", str(pid)],
                            check=True, capture_output=True)  # fmt: skip
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    took = time.perf_counter() - t0
    return await asyncio.to_thread(callgrind_dump, pid, out) / took


def callgrind_dump(pid: int, out: Path, keep: Path | None = None) -> int:
    """Dump the counters (since the last zero or dump); return the instructions
    (the dump file is copied into ``keep`` as ``keep.name``, for callgrind_annotate)."""
    before = set(out.parent.glob(out.name + "*"))
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    for _ in range(600):
        new = set(out.parent.glob(out.name + "*")) - before
        if new:
            (path,) = new
            time.sleep(0.2)  # let callgrind finish writing it
            match = re.search(r"^(?:summary|totals): (\d+)", path.read_text(), re.M)
            if match:
                if keep is not None:
                    shutil.copy(path, keep)
                return int(match.group(1))
        time.sleep(0.1)
    raise RuntimeError("callgrind wrote no dump")


class BenchServer:
    """``prefix``: a command the server runs under (e.g. valgrind); ``env``: more
    settings; ``start_s``: how long it may take to answer its first request; ``uds``:
    listen on this unix socket instead of the port (``hotfn start --uds``)."""

    def __init__(
        self,
        name: str,
        prefix: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        start_s: float = 30.0,
        uds: Path | None = None,
    ) -> None:
        self.data = Path(tempfile.mkdtemp(prefix=f"hotfn-{name}-"))
        self.instance = name + secrets.token_hex(3)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.uds = uds
        env = {**os.environ, "HOTFN_NETWORK": "none", "HOTFN_INSTANCE": self.instance,
               "HOTFN_DATA_DIR": str(self.data), **(env or {})}  # fmt: skip
        if uds is not None:
            env["HOTFN_UNIX_SOCKET"] = str(uds)
        self.log = open(self.data / "server.log", "wb")
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "hotfn.cli.main", "start", "--port", str(self.port)],
            env=env, stdout=self.log, stderr=self.log, cwd=ROOT,
        )  # fmt: skip
        _LIVE.add(self)
        until = time.monotonic() + start_s
        while time.monotonic() < until:
            if self.proc.poll() is not None:
                break
            if uds is not None:
                if answers(f"unix:{uds}", timeout=5):
                    return
                time.sleep(0.05)
                continue
            try:
                urllib.request.urlopen(self.url + "/", timeout=5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError((self.data / "server.log").read_text())

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=300) as resp:
            out: dict[str, Any] = json.loads(resp.read() or b"{}")
            return out

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_s(self) -> float:
        """CPU time (user + system, all threads) the server process has used so far."""
        return sum(self.cpu_times())

    def cpu_times(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the server process so far: the system part is
        the kernel's work for it (sockets, epoll, futexes)."""
        user, system, _, _ = proc_times(self.proc.pid)
        return user, system

    def sockets(self) -> list[str]:
        """The hot containers' sockets (to call them directly, beside the server)."""
        bases = [self.data / "iofs" / self.instance, Path("/tmp") / f"hotfn-iofs-{self.instance}"]
        return [str(p) for b in bases for p in b.glob("*/lsnr.sock")]

    def containers(self) -> list[str]:
        return docker("ps", "-aq", "--filter", f"label=io.hotfn.instance={self.instance}").split()

    def stop(self) -> list[str]:
        """Stop (Ctrl-C) and return the containers it left behind (then removed)."""
        _LIVE.discard(self)
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(90)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        left = self.containers()
        if left:
            print(f"WARNING: containers left behind: {left}")
            docker("rm", "-f", *left, check=False)
        shutil.rmtree(self.data, ignore_errors=True)
        return left

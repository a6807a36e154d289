"""Benchmark of detached calls on the real engine (not a test): prints medians.

    .venv/bin/python bench/bench_detached.py [--calls 1000] [--backends sqlite,postgres]

Needs a running engine, the local images (scripts/ensure-docker, scripts/build-images)
and, for PostgreSQL, the test cluster (scripts/ensure-postgres; HOTFN_TEST_PG_URL).
The function is the detached tests' ledger (hotfn's FDK; it writes its start time
per call to its log). Per backend, in one run:

1. 202 latency p50/p99 and enqueue rate at 1 and 16 callers, on a server that
   dispatches nothing (HOTFN_DETACHED_MAX_RUNNING=0), so only the enqueue is timed:
   parse, group-committed insert (fsync), 202;
2. enqueue-to-start on an idle server with a hot container: from the client sending
   the request to the function's own clock at its start (goal ≤ 50 ms p50), one call
   at a time;
3. drain rate: ``--calls`` detached calls sent at once, from the first send to the
   last completion (records' ``completed_at``), next to the same calls made
   synchronously at 2 callers (the per-fn detached bound here: one per CPU) and 16.

The client is benchhttp's minimal keep-alive HTTP/1.1 client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchhttp import Conn, post, tcp_conn  # noqa: E402  (beside this script)

from tests.detached.conftest import ledger_image  # noqa: E402
from tests.docker_support import DOCKER, docker  # noqa: E402
from tests.server_support import (  # noqa: E402
    ServerProcess,
    create_pg_database,
    drop_pg_database,
)

DETACHED = "Fn-Invoke-Type: detached\r\n"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Server:
    def __init__(self, db_url: str | None, **env: str) -> None:
        self.instance = "bdq" + secrets.token_hex(3)
        self.data = Path(tempfile.mkdtemp(prefix="hotfn-bench-detached-"))
        self.proc = ServerProcess(
            db_url or f"sqlite:///{self.data / 'hotfn.db'}", self.data,
            HOTFN_INSTANCE=self.instance, HOTFN_KEEPALIVE="fixed", **env,
        ).start()  # fmt: skip
        self.port = self.proc.port

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.proc.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"{}")

    def deploy(self) -> str:
        app = self.api("POST", "/v2/apps", {"name": "b" + secrets.token_hex(3)})
        fn = self.api("POST", "/v2/fns", {"name": "ledger", "app_id": app["id"],
                      "image": ledger_image(), "idle_timeout": 600})  # fmt: skip
        fn_id: str = fn["id"]
        return fn_id

    def records(self, fn_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = self.api("GET", f"/v2/fns/{fn_id}/calls?per_page=100{cursor}")
            out += page["items"]
            if not page.get("next_cursor"):
                return out
            cursor = f"&cursor={page['next_cursor']}"

    def ledger_starts(self) -> dict[str, float]:
        starts: dict[str, float] = {}
        for cid in docker(
            "ps", "-aq", "--filter", f"label=io.hotfn.instance={self.instance}"
        ).split():
            proc = subprocess.run(
                [DOCKER, "logs", cid], capture_output=True, text=True, check=False
            )
            for line in (proc.stdout + proc.stderr).splitlines():
                parts = line.split()
                if len(parts) == 5 and parts[:2] == ["LEDGER", "start"]:
                    starts[parts[2]] = float(parts[4])
        return starts

    def stop(self) -> None:
        self.proc.stop(60)
        left = docker("ps", "-aq", "--filter", f"label=io.hotfn.instance={self.instance}").split()
        if left:
            print(f"WARNING: containers left behind: {left}")
            docker("rm", "-f", *left, check=False)


async def _callers(
    port: int, path: str, n: int, callers: int, extra: str
) -> tuple[list[float], float]:
    """``n`` POSTs over ``callers`` keep-alive connections: latencies (ms), wall (s)."""
    conns: list[Conn] = [await tcp_conn(port) for _ in range(callers)]
    raw = post(path, b"x", extra)
    lat: list[float] = []
    left = [n]

    async def run(conn: Conn) -> None:
        while left[0] > 0:
            left[0] -= 1
            t0 = time.perf_counter()
            status, _, body = await conn.send(raw)
            lat.append((time.perf_counter() - t0) * 1000)
            if status not in (200, 202):
                raise RuntimeError(f"{status}: {body[:200]!r}")

    t0 = time.perf_counter()
    await asyncio.gather(*(run(c) for c in conns))
    wall = time.perf_counter() - t0
    for c in conns:
        c.close()
    return lat, wall


def enqueue(db_url: str | None, calls: int) -> dict[int, tuple[float, float, float]]:
    server = Server(db_url, HOTFN_DETACHED_MAX_RUNNING="0")
    try:
        path = f"/invoke/{server.deploy()}"
        out = {}
        for callers in (1, 16):
            lat, wall = asyncio.run(_callers(server.port, path, calls, callers, DETACHED))
            out[callers] = (statistics.median(lat), pct(lat, 0.99), calls / wall)
        return out
    finally:
        server.stop()


async def _one_at_a_time(port: int, path: str, n: int) -> list[tuple[str, float]]:
    conn = await tcp_conn(port)
    sent = []
    for _ in range(n):
        t0 = time.time()
        status, head, _ = await conn.send(post(path, b"x", DETACHED))
        assert status == 202, status
        i = head.find(b"fn-call-id:")
        sent.append((head[i + 11 : head.find(b"\r\n", i)].strip().decode().upper(), t0))
        await asyncio.sleep(0.1)  # idle between calls: each starts on an idle server
    conn.close()
    return sent


def pickup(db_url: str | None, n: int = 50) -> tuple[float, float]:
    server = Server(db_url)
    try:
        fn_id = server.deploy()
        server.api("POST", f"/invoke/{fn_id}", {})  # a hot container first
        sent = asyncio.run(_one_at_a_time(server.port, f"/invoke/{fn_id}", n))
        time.sleep(1.0)  # the last one's log line
        starts = server.ledger_starts()
        delays = [(starts[cid] - t0) * 1000 for cid, t0 in sent if cid in starts]
        return statistics.median(delays), pct(delays, 0.99)
    finally:
        server.stop()


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def drain(db_url: str | None, calls: int) -> dict[str, float]:
    server = Server(db_url)
    try:
        sync_fn, det_fn = server.deploy(), server.deploy()
        for fn_id in (sync_fn, det_fn):
            server.api("POST", f"/invoke/{fn_id}", {})  # hot containers first
        out = {}
        for callers in (2, 16):
            _, wall = asyncio.run(_callers(server.port, f"/invoke/{sync_fn}", calls, callers, ""))
            out[f"sync x{callers}"] = calls / wall
        t0 = time.time()
        asyncio.run(_callers(server.port, f"/invoke/{det_fn}", calls, 16, DETACHED))
        while True:
            recs = server.records(det_fn)
            if len(recs) >= calls and all(r["status"] == "success" for r in recs):
                break
            time.sleep(0.5)
        last = max(_ts(r["completed_at"]) for r in recs)
        out["detached"] = calls / (last - t0)
        return out
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        db_url = create_pg_database() if backend == "postgres" else None
        try:
            print(f"== {backend}")
            for callers, (p50, p99, rate) in enqueue(db_url, args.calls).items():
                print(f"202 latency, {callers:2d} callers: p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
                      f"enqueue rate {rate:.0f}/s")  # fmt: skip
            p50, p99 = pickup(db_url)
            print(f"enqueue-to-start, idle server: p50 {p50:.1f} ms  p99 {p99:.1f} ms")
            rates = drain(db_url, args.calls)
            print("drain rate (calls/s): " + "  ".join(f"{k} {v:.0f}" for k, v in rates.items()))
        finally:
            if db_url:
                drop_pg_database(db_url)


if __name__ == "__main__":
    main()

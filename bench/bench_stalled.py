"""Benchmark of thousands of stalled uploads on the real engine (issue 12; not a
test): prints medians.

    .venv/bin/python bench/bench_stalled.py [--stalled 3000] [--idle 10] [--rounds 4]
        [--calls 1000] [--server-nofile SOFT]

A hot FDK echo (bench_agent's image) with an HTTP trigger, on a ``hotfn start``
server (network ``none``) with ``HOTFN_CLIENT_IDLE_TIMEOUT=--idle``. Each round:

1. ``--calls`` sequential small calls with no stalled upload, alternating
   ``/invoke`` and ``/t`` (median, p99 of each);
2. ``--stalled`` connections, each sending a call's headers and 2 of a 100-byte
   body, then nothing (to ``/invoke`` in odd rounds, to ``/t`` in even ones);
3. the same calls while all of them are held open (finished well before the idle
   timeout, or it says so);
4. wait until the server has closed every stalled connection (or ``--idle`` + 60 s),
   then the same calls again.

Printed: the latencies of each block and the ratio with stalled / without; the
server's RSS (``/proc/PID/status`` VmRSS) before, with all stalled uploads open and
after they were closed, each round; the RSS per stalled upload (first round) and the
peak of later rounds over the first's (the allocator keeps the memory, later rounds
reuse it); how each stalled upload ended (408, closed without an answer, still
open) and when, from its headers sent to its connection closed, next to the idle
timeout; the load average, since the figures depend on what else runs on the
machine.

``--server-nofile SOFT`` runs the server with that soft RLIMIT_NOFILE (through
``prlimit``; the hard limit is kept), as under a default ``ulimit -n`` of 1024.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_agent import echo_image, pct  # noqa: E402  (beside this script)
from benchhttp import post, tcp_conn  # noqa: E402
from benchserver import BenchServer  # noqa: E402

OPEN_BATCH = 200  # stalled connections opened at once


class Stalled(asyncio.Protocol):
    """One stalled upload: the head and 2 of 100 body bytes, then silence."""

    def __init__(self, head: bytes) -> None:
        self.head = head
        self.sent = 0.0
        self.answer = b""
        self.answered: float | None = None
        self.closed: float | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.transport.write(self.head)
        self.sent = time.perf_counter()

    def data_received(self, data: bytes) -> None:
        if not self.answer:
            self.answer = data[:12]
            self.answered = time.perf_counter()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = time.perf_counter()


@dataclass
class Block:
    """Sequential call latencies (ms) of one block, by path."""

    ms: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0


async def block(port: int, calls: dict[str, bytes], n: int) -> Block:
    """``n`` calls on each path, alternating, one keep-alive connection per path."""
    conns = {label: await tcp_conn(port) for label in calls}
    out = Block({label: [] for label in calls})
    t0 = time.perf_counter()
    for _ in range(n):
        for label, raw in calls.items():
            c0 = time.perf_counter()
            status, _, body = await conns[label].send(raw)
            out.ms[label].append((time.perf_counter() - c0) * 1000)
            assert status == 200 and body == b"hello", (label, status, body)
    out.seconds = time.perf_counter() - t0
    for conn in conns.values():
        conn.close()
    return out


def _returning(protocol: Stalled) -> Callable[[], Stalled]:
    return lambda: protocol


async def open_stalled(port: int, path: str, count: int) -> list[Stalled]:
    head = post(path, b"ab").replace(b"Content-Length: 2\r\n", b"Content-Length: 100\r\n")
    loop = asyncio.get_running_loop()
    out: list[Stalled] = []
    for start in range(0, count, OPEN_BATCH):
        batch = [Stalled(head) for _ in range(min(OPEN_BATCH, count - start))]
        await asyncio.gather(
            *(loop.create_connection(_returning(s), "127.0.0.1", port) for s in batch)
        )
        out.extend(batch)
    return out


async def all_closed(stalled: list[Stalled], limit_s: float) -> bool:
    until = time.perf_counter() + limit_s
    while time.perf_counter() < until:
        if all(s.closed is not None for s in stalled):
            return True
        await asyncio.sleep(0.05)
    return False


def server_nofile(server: BenchServer) -> str:
    for line in Path(f"/proc/{server.proc.pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return f"{soft} soft / {hard} hard"
    return "?"


def raise_nofile(need: int) -> None:
    """This process holds every stalled connection: raise its soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            sys.exit(f"bench_stalled: needs {need} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def summary(label: str, ms: list[float]) -> str:
    return f"{label:<10} median {statistics.median(ms):7.3f} ms  p99 {pct(ms, 0.99):7.3f} ms"


async def main(args: argparse.Namespace) -> None:
    raise_nofile(args.stalled + 256)
    image = echo_image()
    env = {"HOTFN_CLIENT_IDLE_TIMEOUT": str(args.idle)}
    prefix: tuple[str, ...] = ()
    if args.server_nofile:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        prefix = ("prlimit", f"--nofile={args.server_nofile}:{hard}", "--")
    server = BenchServer("bstall", prefix=prefix, env=env)
    try:
        app = server.api("POST", "/v2/apps", {"name": "bstall"})
        fn = server.api("POST", "/v2/fns", {"name": "echo", "app_id": app["id"], "image": image})
        server.api("POST", "/v2/triggers", {"name": "echo", "app_id": app["id"], "fn_id": fn["id"],
                                            "type": "http", "source": "/echo"})  # fmt: skip
        paths = {"/invoke": f"/invoke/{fn['id']}", "/t": "/t/bstall/echo"}
        calls = {label: post(path, b"hello") for label, path in paths.items()}
        print(f"server RLIMIT_NOFILE: {server_nofile(server)}; idle timeout {args.idle:g} s; "
              f"{args.stalled} stalled uploads a round; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)  # fmt: skip
        await block(server.port, calls, 300)  # warm-up: the container is started
        without: dict[str, list[float]] = {label: [] for label in calls}
        held: dict[str, list[float]] = {label: [] for label in calls}
        rss_before: list[float] = []
        rss_held: list[float] = []
        rss_after: list[float] = []
        lifetimes: list[float] = []
        ends: dict[str, int] = {}
        spans: list[float] = []
        for r in range(args.rounds):
            stalled_path = list(paths.values())[r % 2]
            for label, ms in (await block(server.port, calls, args.calls)).ms.items():
                without[label] += ms
            rss_before.append(server.rss_mb())
            t_open = time.perf_counter()
            stalled = await open_stalled(server.port, stalled_path, args.stalled)
            opened_s = time.perf_counter() - t_open
            during = await block(server.port, calls, args.calls)
            rss_held.append(server.rss_mb())
            still = sum(s.closed is None for s in stalled)
            in_time = time.perf_counter() - t_open < args.idle
            for label, ms in during.ms.items():
                held[label] += ms
            done = await all_closed(stalled, args.idle + 60)
            spans.append(max((s.closed or time.perf_counter()) for s in stalled) - t_open)
            for s in stalled:
                key = s.answer.decode(errors="replace") if s.answer else "closed, no answer"
                if s.closed is None:
                    key = "still open"
                    if s.transport is not None:
                        s.transport.close()
                else:
                    lifetimes.append(s.closed - s.sent)
                ends[key] = ends.get(key, 0) + 1
            for label, ms in (await block(server.port, calls, args.calls)).ms.items():
                without[label] += ms
            rss_after.append(server.rss_mb())
            note = "" if in_time else "  (the block ran past the idle timeout: raise --idle)"
            print(f"round {r + 1}: stalled to {'/invoke' if r % 2 == 0 else '/t'}: opened in "
                  f"{opened_s:.2f} s, {still} open after the block{note}; all closed "
                  f"{spans[-1]:.2f} s after the first was opened{'' if done else ' (NOT all)'}; "
                  f"RSS {rss_before[-1]:.1f} → {rss_held[-1]:.1f} → {rss_after[-1]:.1f} MB",
                  flush=True)  # fmt: skip
        print(f"sequential calls, {args.calls} per path per block, {args.rounds} rounds:")
        for label in calls:
            a = statistics.median(without[label])
            b = statistics.median(held[label])
            print(f"  {summary(label, without[label])}   no stalled uploads")
            print(f"  {summary(label, held[label])}   {args.stalled} stalled held open"
                  f"   ratio {b / a:.2f}")  # fmt: skip
        # The first round's growth is what the stalled uploads cost; the allocator
        # keeps that memory after they are closed and later rounds reuse it, so the
        # growth over later rounds says whether anything accumulates.
        per = (rss_held[0] - rss_before[0]) * 1024 / args.stalled
        print(
            f"server RSS, first round: {rss_before[0]:.1f} MB before, {rss_held[0]:.1f} MB with "
            f"{args.stalled} stalled ({per:.1f} KiB each), {rss_after[0]:.1f} MB after they "
            f"were closed; with stalled, later rounds at most {max(rss_held[1:] or rss_held):.1f} "
            f"MB ({max(rss_held[1:] or rss_held) - rss_held[0]:+.1f} MB over the first)"
        )
        print(f"stalled uploads ended: {ends}")
        if lifetimes:
            print(f"headers sent → connection closed: min {min(lifetimes):.2f} s, median "
                  f"{statistics.median(lifetimes):.2f} s, max {max(lifetimes):.2f} s "
                  f"(idle timeout {args.idle:g} s); open → all closed, median of rounds "
                  f"{statistics.median(spans):.2f} s")  # fmt: skip
        print(f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stalled", type=int, default=3000, help="stalled uploads a round")
    parser.add_argument("--idle", type=float, default=10.0, help="HOTFN_CLIENT_IDLE_TIMEOUT, s")
    parser.add_argument("--rounds", type=int, default=4, help="rounds (measure, stall, measure)")
    parser.add_argument("--calls", type=int, default=1000, help="sequential calls per path a block")
    parser.add_argument("--server-nofile", type=int, default=0, help="the server's soft fd limit")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args))

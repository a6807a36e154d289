"""Benchmark of hotfn behind nginx (not a test): prints medians.

    .venv/bin/python bench/bench_cluster.py [--seconds 5] [--calls 2000] [--callers 16]

Needs the engine, PostgreSQL and nginx (scripts/ensure-docker, ensure-postgres,
ensure-nginx). Starts three ``hotfn start`` servers on one fresh PostgreSQL database
and measures, in one run:

1. nginx's added latency per hot call: the same echo fn called straight at its
   node and through nginx, alternating blocks of sequential calls; the difference
   of the medians, overall and per block pair (goal <= 0.1 ms p50); and the same
   for nginx in front of an upstream that does nothing (bench/trivial_upstream.py),
   the least one more hop costs on this machine;
2. requests/s of the cheapest hot fn (hotfn's FDK echo) through nginx routing to
   1, 2 and 3 nodes (one nginx config each, alternated over ``--rounds``), with
   ``--fns`` fns so that the hash spreads them, and the CPU each part spent per call
   (servers, nginx, function containers, from /proc and the containers' cgroups),
   which explains where this 2-core machine's limit is;
3. with ``--callgrind``: the instructions nginx itself executes per proxied call
   (nginx in one process under valgrind's callgrind, the difference of two runs of
   different lengths over the number of calls), which does not depend on how busy
   the machine is;
4. with ``--variants all`` (or a comma list of their names, see VARIANTS): nginx's
   added latency for other layouts and nginx settings side by side, each its own
   nginx (or node), all in the same rotated blocks against the same straight
   connection: to a node on a unix socket (``hotfn start --uds``), to another TCP
   node (how much two like nodes differ), ``worker_processes auto``, ``tcp_nodelay
   off``, ``proxy_buffering on``, the worker pinned to each CPU
   (``worker_cpu_affinity``). ``--pin-node CPU`` pins the measured nodes (every
   thread, ``taskset -a``) for the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench_agent import echo_image, pct  # noqa: E402  (beside this script)
from benchhttp import Conn, latencies, post, tcp_conn, unix_conn  # noqa: E402
from benchserver import BenchServer, callgrind_prefix, proc_times  # noqa: E402

from hotfn.cluster.local import Nginx, wait_until_answers  # noqa: E402
from hotfn.cluster.nginx_conf import SPILL_LOCATION, Routing  # noqa: E402
from tests.cluster.conftest import nginx_binary  # noqa: E402
from tests.docker_support import containers_with  # noqa: E402
from tests.server_support import create_pg_database, drop_pg_database, free_port  # noqa: E402


def proc_cpu(pid: int) -> float:
    """CPU seconds of a process and its waited-for children."""
    return sum(proc_times(pid))


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(x) for x in text]
    return out


def container_cpu(ids: list[str]) -> float:
    total = 0
    for cid in ids:
        path = Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage")
        if path.exists():
            total += int(path.read_text())
    return total / 1e9


def all_containers(nodes: list[BenchServer]) -> list[str]:
    return [c for n in nodes for c in containers_with({"io.hotfn.instance": n.instance})]


def node_address(node: BenchServer | int) -> str:
    """How nginx names an upstream: a port on loopback or a node's unix socket."""
    if isinstance(node, int):
        return f"127.0.0.1:{node}"
    return f"unix:{node.uds}" if node.uds is not None else f"127.0.0.1:{node.port}"


class Front:
    """An nginx in front of some of the nodes; ``workers`` and ``edit`` (a change to
    the whole nginx.conf, checked by ``nginx -t``) for the variants."""

    def __init__(
        self,
        binary: str,
        nodes: list[BenchServer] | list[int],
        workers: str = "1",
        edit: Callable[[str], str] | None = None,
    ) -> None:
        self.port = free_port()
        self.nginx = Nginx(Path(tempfile.mkdtemp(prefix="hotfn-bench-nginx-")), binary)
        addrs = tuple(node_address(n) for n in nodes)
        self.nginx.write(Routing(listen=f"127.0.0.1:{self.port}", nodes=addrs), workers)
        if edit is not None:
            self.nginx.conf.write_text(edit(self.nginx.conf.read_text()))
            self.nginx.check()
        self.proc = self.nginx.foreground()
        wait_until_answers(f"http://127.0.0.1:{self.port}", 10)

    def cpu(self) -> float:
        return proc_cpu(self.proc.pid) + sum(proc_cpu(c) for c in children(self.proc.pid))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.nginx.prefix, ignore_errors=True)


def _replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new)

    return edit


def _affinity(cpu: int) -> Callable[[str], str]:
    mask = "".join("1" if c == cpu else "0" for c in reversed(range(os.cpu_count() or 1)))
    return _replace("worker_processes 1;", f"worker_processes 1;\nworker_cpu_affinity {mask};")


@dataclass(frozen=True)
class Variant:
    """One layout or nginx setting: its nginx's upstream ("a" node 0 on TCP, "b"
    node 1 on TCP, "u" a node on a unix socket), worker_processes, nginx.conf change."""

    what: str
    upstream: str = "a"
    workers: str = "1"
    edit: Callable[[str], str] | None = None


NODELAY_OFF = _replace("    proxy_buffering off;", "    proxy_buffering off;\n    tcp_nodelay off;")
VARIANTS = {
    "uds": Variant("nginx -> a node on a unix socket", "u"),
    "tcp-b": Variant("nginx -> another node on TCP (like nodes differ)", "b"),
    "workers-auto": Variant("worker_processes auto", workers="auto"),
    "nodelay-off": Variant("tcp_nodelay off", edit=NODELAY_OFF),
    "buffering-on": Variant(
        "proxy_buffering on", edit=_replace("proxy_buffering off;", "proxy_buffering on;")
    ),
    **{
        f"cpu{c}": Variant(f"worker_cpu_affinity: the worker on CPU {c}", edit=_affinity(c))
        for c in range(os.cpu_count() or 1)
    },
}


def pin(pid: int, cpu: int) -> None:
    """Every thread of ``pid`` on ``cpu`` (threads started later inherit it)."""
    subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(pid)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


async def rotated(
    conns: dict[str, Conn], raw: bytes, args: argparse.Namespace
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Sequential calls on every connection in blocks, the order rotated by one each
    block: (ms per connection, each block's median per connection)."""
    names = list(conns)
    out: dict[str, list[float]] = {n: [] for n in names}
    medians: dict[str, list[float]] = {n: [] for n in names}
    per_block = max(1, args.calls // args.blocks)
    for i in range(args.blocks):
        k = i % len(names)
        got = {n: await latencies(conns[n], raw, per_block) for n in names[k:] + names[:k]}
        for n, values in got.items():
            out[n] += values
            medians[n].append(statistics.median(values))
    return out, medians


async def variants(
    binary: str, nodes: list[BenchServer], raw: bytes, args: argparse.Namespace
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Section 4: every chosen variant beside straight at node 0 and the reference
    nginx (``tcp``: as deployed), in one rotation."""
    chosen = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    upstream = {"a": nodes[0], "b": nodes[1]}
    if any(VARIANTS[v].upstream == "u" for v in chosen):
        upstream["u"] = nodes[3]
    fronts = {"tcp": Front(binary, [nodes[0]])}
    try:
        for name in chosen:
            v = VARIANTS[name]
            fronts[name] = Front(binary, [upstream[v.upstream]], v.workers, v.edit)
        conns: dict[str, Conn] = {"straight": await tcp_conn(nodes[0].port)}
        if "u" in upstream:
            uds = upstream["u"].uds
            assert uds is not None
            conns["straight-uds"] = await unix_conn(str(uds))
        for name, front in fronts.items():
            conns[name] = await tcp_conn(front.port)
        for conn in conns.values():  # every node's container started, every path warm
            await latencies(conn, raw, 200)
        return await rotated(conns, raw, args)
    finally:
        for front in fronts.values():
            front.stop()


async def baseline(
    binary: str, raw: bytes, args: argparse.Namespace, delay_ms: float
) -> tuple[list[float], list[float]]:
    """nginx over bench/trivial_upstream.py: (straight ms, per-block-pair diffs)."""
    port = free_port()
    cmd = [sys.executable, str(HERE / "trivial_upstream.py"), str(port), str(delay_ms)]
    trivial = await asyncio.create_subprocess_exec(*cmd)
    front: Front | None = None
    try:
        await asyncio.to_thread(wait_until_answers, f"http://127.0.0.1:{port}", 10)
        front = Front(binary, [port])
        _, direct, diffs = await paired(front.port, port, raw, args)
    finally:
        if front is not None:
            front.stop()
        trivial.terminate()
        await trivial.wait()
    return direct, diffs


async def tcp_warm(port: int, raw: bytes) -> None:
    conn = await tcp_conn(port)
    await latencies(conn, raw, 200)
    conn.close()


async def paired(
    via_port: int, direct_port: int, raw: bytes, args: argparse.Namespace
) -> tuple[list[float], list[float], list[float]]:
    """Sequential calls through nginx and straight at the upstream, in alternating
    blocks: (via ms, direct ms, one difference of medians per block pair). Pairing
    blocks cancels the machine's drift between them (the other core's load)."""
    via_conn, direct_conn = await tcp_conn(via_port), await tcp_conn(direct_port)
    await latencies(direct_conn, raw, 50)
    via: list[float] = []
    direct: list[float] = []
    diffs: list[float] = []
    for i in range(args.blocks):
        order = (via_conn, direct_conn) if i % 2 == 0 else (direct_conn, via_conn)
        got = {id(conn): await latencies(conn, raw, args.calls // args.blocks) for conn in order}
        a, b = got[id(via_conn)], got[id(direct_conn)]
        via += a
        direct += b
        diffs.append(statistics.median(a) - statistics.median(b))
    via_conn.close()
    direct_conn.close()
    return via, direct, diffs


async def spread_load(
    port: int, raws: list[bytes], callers: int, seconds: float
) -> tuple[float, float]:
    """Calls/s with ``callers`` keep-alive connections, each on its own fn (round
    robin over ``raws``); the measured window's length."""
    conns: list[Conn] = [await tcp_conn(port) for _ in range(callers)]
    count = 0
    stop = False

    async def loop(conn: Conn, raw: bytes) -> None:
        nonlocal count
        while not stop:
            status, _, _ = await conn.send(raw)
            assert status == 200, status
            count += 1

    tasks = [asyncio.create_task(loop(c, raws[i % len(raws)])) for i, c in enumerate(conns)]
    await asyncio.sleep(0.5)  # warm-up
    start, t0 = count, time.perf_counter()
    await asyncio.sleep(seconds)
    done, elapsed = count - start, time.perf_counter() - t0
    stop = True
    await asyncio.gather(*tasks)
    for c in conns:
        c.close()
    return done / elapsed, elapsed


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def callgrind_nginx(binary: str, node: BenchServer) -> tuple[subprocess.Popen[bytes], int, Path]:
    """A single-process nginx under callgrind in front of ``node``, once it listens:
    the process, its port and the file callgrind writes at exit."""
    prefix = Path(tempfile.mkdtemp(prefix="hotfn-bench-cg-"))
    nginx = Nginx(prefix, binary)
    port = free_port()
    nginx.write(Routing(listen=f"127.0.0.1:{port}", nodes=(f"127.0.0.1:{node.port}",)))
    out = prefix / "callgrind.out"
    proc = subprocess.Popen(
        [*callgrind_prefix(out), binary,
         "-c", str(nginx.conf), "-p", str(prefix), "-g", "daemon off; master_process off;"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while not _listening(port):  # a bare connect: no request through nginx
        time.sleep(0.5)
    return proc, port, out


async def nginx_instructions(binary: str, node: BenchServer, raw: bytes, calls: int) -> int:
    """Instructions (callgrind's Ir) of a single-process nginx that served ``calls``
    sequential calls to ``node``, start-up and shutdown included."""
    proc, port, out = await asyncio.to_thread(callgrind_nginx, binary, node)
    try:
        conn = await tcp_conn(port)
        await latencies(conn, raw, calls)
        conn.close()
        proc.send_signal(signal.SIGQUIT)  # graceful: callgrind writes its totals at exit
        await asyncio.to_thread(proc.wait, 120)
        totals = [line for line in out.read_text().splitlines() if line.startswith("totals:")]
        return int(totals[0].split()[1])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(out.parent, ignore_errors=True)  # nginx's prefix: config, logs, dump


async def main(args: argparse.Namespace) -> None:
    load = os.getloadavg()
    binary = nginx_binary()
    image = echo_image()
    db_url = create_pg_database()
    os.environ.update({"HOTFN_DB_URL": db_url, "HOTFN_SPILL_TO": SPILL_LOCATION,
                       "HOTFN_GENERIC_POOL_SIZE": "0"})  # fmt: skip
    nodes = [BenchServer(f"cl{i}") for i in range(3)]
    fronts: dict[int, Front] = {}
    socket_dir = Path(tempfile.mkdtemp(prefix="hotfn-bench-uds-"))
    os.chmod(socket_dir, 0o711)  # nginx's workers (nobody, when nginx runs as root) reach it
    var: tuple[dict[str, list[float]], dict[str, list[float]]] = ({}, {})
    try:
        if args.variants:
            nodes.append(BenchServer("clu", uds=socket_dir / "node.sock"))
        if args.pin_node is not None:
            for node in nodes[:2] + nodes[3:]:  # the ones the variants call
                pin(node.proc.pid, args.pin_node)
        app = nodes[0].api("POST", "/v2/apps", {"name": "bench"})
        fns = [
            nodes[0].api("POST", "/v2/fns", {"name": f"e{i}", "app_id": app["id"], "image": image})
            for i in range(args.fns)
        ]
        raws = [post(f"/invoke/{fn['id']}", b"hello") for fn in fns]
        fronts = {n: Front(binary, nodes[:n]) for n in (1, 2, 3)}

        # 1. nginx's added latency: fn 0 through a one-node nginx and straight at it.
        await tcp_warm(fronts[1].port, raws[0])  # starts and warms the container
        via, direct, diffs = await paired(fronts[1].port, nodes[0].port, raws[0], args)
        # ... and the same over an upstream that does nothing, answering at once and
        # after a timer as if it ran a call: what one more hop costs on this
        # machine, whatever the upstream.
        baselines = {d: await baseline(binary, raws[0], args, d) for d in (0.0, args.delay_ms)}
        # 4. other layouts and nginx settings, side by side.
        if args.variants:
            var = await variants(binary, nodes, raws[0], args)
        latency_load = os.getloadavg()  # before the throughput part loads the machine

        # 3. nginx's own instructions per call, by difference of two runs.
        ir_per_call = 0.0
        if args.callgrind:
            short = await nginx_instructions(binary, nodes[0], raws[0], 200)
            long = await nginx_instructions(binary, nodes[0], raws[0], 1200)
            ir_per_call = (long - short) / 1000

        # 2. throughput at 1, 2, 3 nodes, alternated; every fn warm on every layout.
        for front in fronts.values():
            await spread_load(front.port, raws, len(raws), 1.0)
        rates: dict[int, list[float]] = {1: [], 2: [], 3: []}
        cpu: dict[int, list[tuple[float, float, float]]] = {1: [], 2: [], 3: []}
        for _ in range(args.rounds):
            for n, front in fronts.items():
                ids = await asyncio.to_thread(all_containers, nodes)
                before = (sum(proc_cpu(x.proc.pid) for x in nodes), front.cpu(),
                          container_cpu(ids))  # fmt: skip
                rate, elapsed = await spread_load(front.port, raws, args.callers, args.seconds)
                after = (sum(proc_cpu(x.proc.pid) for x in nodes), front.cpu(),
                         container_cpu(ids))  # fmt: skip
                calls = rate * elapsed
                rates[n].append(rate)
                srv, ngx, ctr = ((a - b) / calls * 1e6 for a, b in zip(after, before, strict=True))
                cpu[n].append((srv, ngx, ctr))
    finally:
        for front in fronts.values():
            front.stop()
        for node in nodes:
            node.stop()
        drop_pg_database(db_url)
        shutil.rmtree(socket_dir, ignore_errors=True)

    med_via, med_direct = statistics.median(via), statistics.median(direct)
    print(f"load average before: {load[0]:.1f}, after: {os.getloadavg()[0]:.1f}")
    print(f"  (after the latency parts, before the throughput part: {latency_load[0]:.1f})")
    print(f"hot echo, {len(via)} sequential calls each (ms)")
    print(f"  through nginx      median {med_via:.3f}  p99 {pct(via, 0.99):.3f}")
    print(f"  straight at node   median {med_direct:.3f}  p99 {pct(direct, 0.99):.3f}")
    print(f"  nginx adds         median {med_via - med_direct:.3f}  (goal <= 0.1)")
    print(f"  nginx adds, per block pair: median {statistics.median(diffs):.3f}  quartiles "
          f"{pct(diffs, 0.25):.3f} .. {pct(diffs, 0.75):.3f}  ({len(diffs)} pairs)")  # fmt: skip
    print("  nginx over an upstream that does nothing (bench/trivial_upstream.py): one "
          "more hop's cost on this machine")  # fmt: skip
    for delay, (base_direct, base_diffs) in baselines.items():
        straight = statistics.median(base_direct)
        print(f"    answering after {delay:g} ms (straight: median {straight:.3f}): nginx adds "
              f"{statistics.median(base_diffs):.3f}  quartiles {pct(base_diffs, 0.25):.3f} "
              f".. {pct(base_diffs, 0.75):.3f}")  # fmt: skip
    print(f"throughput through nginx, {args.callers} callers over {len(raws)} fns (req/s), "
          f"medians of {args.rounds} alternated rounds; CPU per call (us)")  # fmt: skip
    for n in (1, 2, 3):
        srv, ngx, ctr = (statistics.median(c[k] for c in cpu[n]) for k in range(3))
        print(f"  {n} node(s) {statistics.median(rates[n]):8.0f}   servers {srv:5.0f}  "
              f"nginx {ngx:4.0f}  containers {ctr:5.0f}")  # fmt: skip
    print(f"  cores on this machine: {os.cpu_count()}")
    if ir_per_call:
        print(f"nginx instructions per proxied call (callgrind): {ir_per_call:,.0f}")
    if var[0]:
        print_variants(*var, args)


def _minus(a: list[float], b: list[float]) -> list[float]:
    return [x - y for x, y in zip(a, b, strict=True)]


def print_variants(
    lat: dict[str, list[float]], blocks: dict[str, list[float]], args: argparse.Namespace
) -> None:
    pinned = f", nodes pinned to CPU {args.pin_node}" if args.pin_node is not None else ""
    print(f"variants, rotated blocks of {args.calls // args.blocks} calls ({args.blocks} "
          f"blocks{pinned}); minus straight at node 0 over TCP, per block (ms)")  # fmt: skip
    what = {"straight-uds": "straight at a node on a unix socket", "tcp": "nginx as deployed",
            **{k: v.what for k, v in VARIANTS.items()}}  # fmt: skip

    def line(name: str, d: list[float], note: str) -> None:
        print(f"  {name:14} median {statistics.median(lat[name]):.3f}  adds "
              f"{statistics.median(d):.3f}  quartiles {pct(d, 0.25):.3f} .. "
              f"{pct(d, 0.75):.3f}   {note}")  # fmt: skip

    print(f"  {'straight':14} median {statistics.median(lat['straight']):.3f}")
    for name in blocks:
        if name != "straight":
            line(name, _minus(blocks[name], blocks["straight"]), what[name])
    if "uds" in blocks:
        # Each nginx against its own node straight, then the two hops compared: what
        # the unix socket saves apart from how the two nodes differ.
        uds = _minus(blocks["uds"], blocks["straight-uds"])
        tcp = _minus(blocks["tcp"], blocks["straight"])
        print("  the hop through nginx, each against its node straight (ms):")
        line("uds", uds, "nginx -> unix socket, minus straight at that node's socket")
        line("tcp", tcp, "nginx -> TCP, minus straight at that node's port")
        d = _minus(uds, tcp)
        print(f"  unix socket minus TCP, per block: median {statistics.median(d):.3f}  "
              f"quartiles {pct(d, 0.25):.3f} .. {pct(d, 0.75):.3f}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput level")
    parser.add_argument("--calls", type=int, default=2000, help="sequential latency calls")
    parser.add_argument("--blocks", type=int, default=20, help="alternated latency blocks")
    parser.add_argument("--delay-ms", type=float, default=0.8, help="the baseline's timer")
    parser.add_argument("--callers", type=int, default=16, help="concurrent connections")
    parser.add_argument("--fns", type=int, default=12, help="fns the load is spread over")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds")
    parser.add_argument("--callgrind", action="store_true", help="nginx under callgrind too")
    parser.add_argument("--variants", default="", help="'all' or names from VARIANTS, commas")
    parser.add_argument("--pin-node", type=int, help="pin the measured nodes to this CPU")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args))

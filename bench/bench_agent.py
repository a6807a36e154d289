"""Benchmark of the hot call path on the real engine (not a test): prints medians.

    .venv/bin/python bench/bench_agent.py [--calls 4000] [--rounds 3] [--latency-calls 2000]
        [--callgrind-calls 300] [--no-callgrind] [--no-cold] [--callgrind-only]
        [--callgrind-keep DIR]

Needs a running engine and ``hotfn/base:latest`` (scripts/ensure-docker,
scripts/build-images); valgrind for the instruction counts (scripts/ensure-valgrind).
It builds two echo functions, one on hotfn's FDK and one on Fn's own fdk-python
(the PyPI wheel, downloaded once on the host and installed offline into the image),
starts ``hotfn start`` as a subprocess (network ``none``), gives each fn an HTTP
trigger, and measures in one run, for each FDK and each path (``POST /invoke/{id}``
and ``POST /t/bench/{path}``):

1. sequential latency through hotfn vs straight to the same container's socket
   (``POST /call`` on ``lsnr.sock``, the headers hotfn would send), alternating
   blocks; median and p99; the difference of the medians is hotfn's overhead
   (goal ≤ 0.12 ms);
2. at 1, 4 and 16 concurrent callers, ``--calls`` calls each, in ``--rounds``
   rounds that alternate the levels: requests/s, p50 and p99 latency (goals: no
   drop from 4 to 16, judged per round and then the median of the rounds; p99 at
   16 ≤ 3× its p50), and the server's CPU per call: its process's user + system
   time (``/proc/PID/stat``, all threads) over those calls, less its idle rate
   (goal ≤ 100 µs); medians of the rounds;
3. callgrind instructions per call of the server process: a second server runs
   under ``valgrind --tool=callgrind``; its counters are zeroed after warm-up
   (``callgrind_control``), dumped after an idle window (the baseline: timers,
   housekeeping) and after ``--callgrind-calls`` sequential calls; per call =
   (calls − idle scaled to the same wall time) / calls. Repeatable on a noisy machine;
4. unless ``--no-cold``: cold first call of new fns, and the default format per
   call next to ``docker run --rm -i`` of the same image.

Fn's figures (Fn 0.3.753, measured side by side with hotfn on this kind of machine
on 2026-12-02, the project's design notes §8) are printed beside hotfn's, without
ratios: a ratio needs both sides in one run.

The load generator is a minimal keep-alive HTTP/1.1 client on asyncio (uvloop when
available), so the client costs as little CPU as possible on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchhttp import Conn, latencies, post, tcp_conn, unix_conn  # noqa: E402  (beside this script)
from benchserver import BenchServer, callgrind_dump, callgrind_idle, callgrind_prefix  # noqa: E402

from tests.agent import docker_images as images  # noqa: E402  (image building helpers)

ECHO = b"def handler(ctx, data):\n    return data\n"
FN_ECHO = (
    b"from fdk import response\n\n\n"
    b"def handler(ctx, data=None):\n"
    b"    return response.Response(ctx, response_data=data.getvalue())\n"
)
LEVELS = (1, 4, 16)
# Fn 0.3.753 on this kind of machine, 2026-12-02, Fn's fdk-python echo, wrk (design §8).
FN_FIGURES = (
    "Fn 0.3.753 (2026-12-02, design notes §8): 1236 / 1947 / 1029 req/s, "
    "p50 0.69 ms at 1 caller, ~400 µs server CPU per call at 4 callers"
)


def echo_image() -> str:
    return images.build(
        "bench-echo",
        f"FROM {images.BASE}\n"
        "COPY hotfn /opt/hotfn/hotfn\n"
        "COPY func.py /function/func.py\n"
        "ENV PYTHONPATH=/opt/hotfn PYTHONDONTWRITEBYTECODE=1\n"
        "WORKDIR /function\n"
        'ENTRYPOINT ["python3", "-m", "hotfn.fdk", "/function/func.py:handler"]\n',
        {**images.fdk_files(), "func.py": ECHO},
    )


def fn_echo_image() -> str:
    """An echo on Fn's fdk-python (PyPI wheels, ``pip download`` once on the host)."""
    wheels = images.fn_fdk_wheels()
    files: dict[str, Path | bytes] = {"func.py": FN_ECHO}
    for whl in wheels.glob("*.whl"):
        if whl.name.startswith(("fdk-", "iso8601-", "httptools-")):
            files[f"wheels/{whl.name}"] = whl
    return images.build(
        "bench-fn-echo",
        f"FROM {images.BASE}\n"
        "COPY wheels /tmp/wheels\n"
        'RUN for w in /tmp/wheels/*.whl; do python3 -m zipfile -e "$w" /python; done '
        "&& rm -rf /tmp/wheels\n"
        "COPY func.py /function/func.py\n"
        "ENV PYTHONPATH=/python PYTHONDONTWRITEBYTECODE=1\n"
        "WORKDIR /function\n"
        'ENTRYPOINT ["python3", "-c", "import sys; from fdk.scripts.fdk import main; '
        'sys.exit(main())", "/function/func.py", "handler"]\n',
        files,
    )


# -- measurements ----------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Case:
    """One FDK × path: what is sent through hotfn and straight to the socket."""

    label: str
    raw: bytes  # through hotfn
    direct: bytes = b""  # the same call straight to the container's socket
    socket: str = ""
    via: list[float] = field(default_factory=list)
    straight: list[float] = field(default_factory=list)
    levels: dict[int, list[Level]] = field(default_factory=dict)  # a Level per round
    instructions: float | None = None


@dataclass
class Level:
    rate: float
    p50: float
    p99: float
    cpu_us: float
    sys_us: float  # of which the kernel's (idle not subtracted)


async def load(port: int, raw: bytes, callers: int, calls: int) -> tuple[float, list[float]]:
    """``calls`` calls spread over ``callers`` keep-alive connections: (seconds,
    latencies in ms)."""
    conns = [await tcp_conn(port) for _ in range(callers)]
    lat: list[float] = []
    left = calls

    async def loop(conn: Conn) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            t0 = time.perf_counter()
            status, _, _ = await conn.send(raw)
            lat.append((time.perf_counter() - t0) * 1000)
            assert status == 200, status

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in conns))
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.close()
    return elapsed, lat


async def idle_cpu_rate(server: BenchServer, seconds: float = 2.0) -> float:
    """The server's CPU seconds per second with no calls (timers, housekeeping)."""
    c0, t0 = server.cpu_s(), time.perf_counter()
    await asyncio.sleep(seconds)
    return (server.cpu_s() - c0) / (time.perf_counter() - t0)


async def level(server: BenchServer, case: Case, callers: int, calls: int, idle: float) -> Level:
    await load(server.port, case.raw, callers, 200)  # warm-up (containers started)
    u0, s0 = server.cpu_times()
    elapsed, lat = await load(server.port, case.raw, callers, calls)
    u1, s1 = server.cpu_times()
    cpu = (u1 - u0) + (s1 - s0) - idle * elapsed
    sys_us = (s1 - s0) / calls * 1e6
    return Level(calls / elapsed, pct(lat, 0.5), pct(lat, 0.99), cpu / calls * 1e6, sys_us)


def direct_request(path_kind: str) -> bytes:
    """What hotfn sends the container for ``path_kind`` ("invoke" / "trigger")."""
    extra = "Fn-Call-Id: 01JBENCH0000000000000000XX\r\nFn-Deadline: 2099-01-01T00:00:00.000Z\r\n"
    if path_kind == "trigger":
        extra = (
            "Fn-Http-H-Host: localhost\r\nFn-Http-H-Content-Length: 5\r\n"
            + extra
            + "Fn-Http-Method: POST\r\nFn-Http-Request-Url: http://localhost/t/bench/x\r\n"
            "Fn-Intent: httprequest\r\n"
        )
    return post("/call", b"hello", extra)


def setup(server: BenchServer, images_by_fdk: dict[str, str]) -> list[tuple[str, str, Case]]:
    """Fns and triggers for each FDK: [(fdk, path kind, case)]."""
    app = server.api("POST", "/v2/apps", {"name": "bench"})
    cases = []
    for fdk, image in images_by_fdk.items():
        fn = server.api("POST", "/v2/fns", {"name": fdk, "app_id": app["id"], "image": image})
        server.api("POST", "/v2/triggers", {"name": fdk, "app_id": app["id"], "fn_id": fn["id"],
                                            "type": "http", "source": f"/{fdk}"})  # fmt: skip
        cases.append((fdk, "invoke", Case(f"{fdk} /invoke", post(f"/invoke/{fn['id']}", b"hello"))))
        cases.append((fdk, "trigger", Case(f"{fdk} /t", post(f"/t/bench/{fdk}", b"hello"))))
    return cases


async def hot(server: BenchServer, cases: list[tuple[str, str, Case]], args: argparse.Namespace
              ) -> None:  # fmt: skip
    conn = await tcp_conn(server.port)
    known: set[str] = set()
    sockets: dict[str, str] = {}
    for fdk, kind, case in cases:
        await latencies(conn, case.raw, 50)  # starts and warms the fn's container
        if fdk not in sockets:
            (new,) = set(server.sockets()) - known  # the fn's only container so far
            known.add(new)
            sockets[fdk] = new
        case.socket, case.direct = sockets[fdk], direct_request(kind)
    # Sequential latency, alternating blocks so every case sees the same machine state.
    directs = {fdk: await unix_conn(path) for fdk, path in sockets.items()}
    for _ in range(10):
        for fdk, _kind, case in cases:
            await latencies(conn, case.raw, args.latency_calls // 10, case.via)
            await latencies(directs[fdk], case.direct, args.latency_calls // 10, case.straight)
    for d in directs.values():
        d.close()
    conn.close()
    idle = await idle_cpu_rate(server)
    print(f"server idle CPU: {idle * 1000:.1f} ms/s (subtracted)", flush=True)
    # Rounds alternate the levels (and the cases within each), so that a ratio between
    # levels compares measurements taken minutes apart at most, not a whole run apart.
    for rnd in range(1, args.rounds + 1):
        for callers in LEVELS:
            for _fdk, _kind, case in cases:
                lv = await level(server, case, callers, args.calls, idle)
                case.levels.setdefault(callers, []).append(lv)
                print(f"  round {rnd} {case.label:<18} c={callers:<2} {lv.rate:6.0f} req/s  cpu "
                      f"{lv.cpu_us:5.0f} µs/call ({lv.sys_us:.0f} kernel)", flush=True)  # fmt: skip


# -- callgrind -------------------------------------------------------------------------


async def callgrind(images_by_fdk: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    """Instructions per call of the server process, per case label."""
    work = Path(tempfile.mkdtemp(prefix="hotfn-callgrind-"))
    out = work / "callgrind.out"
    prefix = callgrind_prefix(out)
    server = BenchServer("benchcg", prefix, {"HOTFN_HOT_START_TIMEOUT": "120"}, start_s=600)
    per_call: dict[str, float] = {}
    try:
        cases = setup(server, images_by_fdk)
        conn = await tcp_conn(server.port)
        for _fdk, _kind, case in cases:
            await latencies(conn, case.raw, 30)  # start, warm
        pid = server.proc.pid
        for _fdk, _kind, case in cases:
            await latencies(conn, case.raw, 20)
            await asyncio.sleep(1.5)  # the warm-up's records are written before zeroing
            idle_rate = await callgrind_idle(pid, out, 3.0)
            conn.close()  # idle past the server's keep-alive timeout: a fresh connection
            conn = await tcp_conn(server.port)
            t0 = time.perf_counter()
            await latencies(conn, case.raw, args.callgrind_calls)
            busy_s = time.perf_counter() - t0
            keep = None
            if args.callgrind_keep:
                name = case.label.replace("/", "_").replace(" ", "")
                keep = Path(args.callgrind_keep) / f"{name}.out"
                keep.parent.mkdir(parents=True, exist_ok=True)
            busy = await asyncio.to_thread(callgrind_dump, pid, out, keep)
            per_call[case.label] = (busy - idle_rate * busy_s) / args.callgrind_calls
            print(f"  {case.label:<18} {per_call[case.label] / 1e6:6.2f} M instructions/call "
                  f"(idle {idle_rate / 1e6:.1f} M/s)", flush=True)  # fmt: skip
        conn.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return per_call


# -- cold and default format -----------------------------------------------------------


async def cold(server: BenchServer, echo: str, args: argparse.Namespace) -> None:
    app = server.api("POST", "/v2/apps", {"name": "benchcold"})
    node = images.node_default()
    conn = await tcp_conn(server.port)
    firsts = []
    for i in range(5):
        f = server.api("POST", "/v2/fns", {"name": f"cold{i}", "app_id": app["id"],
                                           "image": echo, "idle_timeout": 5})  # fmt: skip
        t0 = time.perf_counter()
        status, _, _ = await conn.send(post(f"/invoke/{f['id']}", b"x"))
        firsts.append((time.perf_counter() - t0) * 1000)
        assert status == 200
    dfn = server.api("POST", "/v2/fns", {"name": "node", "app_id": app["id"],
                                         "image": node, "format": "default"})  # fmt: skip
    draw = post(f"/invoke/{dfn['id']}", b"Bob")
    default_ms = []
    for _ in range(args.cold_calls):
        t0 = time.perf_counter()
        status, _, body = await conn.send(draw)
        default_ms.append((time.perf_counter() - t0) * 1000)
        assert status == 200 and body == b"Hello Bob from Node!\n", (status, body)
    conn.close()
    run_ms = []
    for _ in range(args.cold_calls):
        t0 = time.perf_counter()
        done = await asyncio.to_thread(
            subprocess.run,
            [images.DOCKER, "run", "--rm", "-i", "--network", "none", node],
            input=b"Bob", capture_output=True, check=True,
        )  # fmt: skip
        run_ms.append((time.perf_counter() - t0) * 1000)
        assert done.stdout == b"Hello Bob from Node!\n"
    print(f"cold first call (ms)     median {statistics.median(firsts):.1f}  all "
          f"{[round(x) for x in firsts]}  (Fn 235 ms, 2026-12-02)")  # fmt: skip
    print(f"default format per call  median {statistics.median(default_ms):.1f} ms via hotfn, "
          f"{statistics.median(run_ms):.1f} ms docker run --rm -i")  # fmt: skip


# -- report ----------------------------------------------------------------------------


def _median_level(levels: list[Level]) -> Level:
    """Each figure's median over the rounds."""
    return Level(*(statistics.median(getattr(lv, f) for lv in levels)
                   for f in ("rate", "p50", "p99", "cpu_us", "sys_us")))  # fmt: skip


def report(cases: list[Case]) -> None:
    print()
    print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), f"load average {os.getloadavg()}")
    print("sequential calls (ms): through hotfn / straight to the socket / overhead (goal 0.12)")
    for c in cases:
        med_via, med_direct = statistics.median(c.via), statistics.median(c.straight)
        print(f"  {c.label:<18} median {med_via:.3f} p99 {pct(c.via, 0.99):.3f} | "
              f"{med_direct:.3f} p99 {pct(c.straight, 0.99):.3f} | "
              f"overhead {med_via - med_direct:.3f}")  # fmt: skip
    rounds = max((len(lvs) for c in cases for lvs in c.levels.values()), default=0)
    print(f"concurrent callers: req/s, p50 / p99 ms, server CPU µs per call (goal 100), "
          f"medians of {rounds} rounds")  # fmt: skip
    for c in cases:
        med = {n: _median_level(lvs) for n, lvs in c.levels.items()}
        parts = [f"c={n}: {lv.rate:.0f} req/s {lv.p50:.2f}/{lv.p99:.2f} ms {lv.cpu_us:.0f} µs "
                 f"({lv.sys_us:.0f} kernel)" for n, lv in med.items()]  # fmt: skip
        print(f"  {c.label:<18} " + " | ".join(parts))
        if 4 in c.levels and 16 in c.levels:
            # Per round (side by side), then the median of those.
            ratios = [b.rate / a.rate for a, b in zip(c.levels[4], c.levels[16], strict=True)]
            tails = [lv.p99 / lv.p50 for lv in c.levels[16]]
            print(f"  {'':<18} 16 vs 4 callers {statistics.median(ratios):.2f}x (goal >= 1; "
                  f"rounds {' '.join(f'{r:.2f}' for r in ratios)}), p99/p50 at 16 "
                  f"{statistics.median(tails):.1f} (goal <= 3)")  # fmt: skip
    if any(c.instructions is not None for c in cases):
        print("callgrind, server process, sequential calls: instructions per call")
        for c in cases:
            if c.instructions is not None:
                print(f"  {c.label:<18} {c.instructions / 1e6:.2f} M")
    print(FN_FIGURES)


async def main(args: argparse.Namespace) -> None:
    by_fdk = {"hotfn": echo_image(), "fnfdk": fn_echo_image()}
    if args.callgrind_only:
        for label, count in (await callgrind(by_fdk, args)).items():
            print(f"  {label:<18} {count / 1e6:.3f} M instructions/call")
        return
    server = BenchServer("bench")
    try:
        cases = setup(server, by_fdk)
        await hot(server, cases, args)
        if not args.no_cold:
            await cold(server, by_fdk["hotfn"], args)
    finally:
        server.stop()
    if not args.no_callgrind:
        print("callgrind (a second server under valgrind) ...", flush=True)
        counts = await callgrind(by_fdk, args)
        for _fdk, _kind, case in cases:
            case.instructions = counts.get(case.label)
    report([case for _fdk, _kind, case in cases])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=4000, help="calls per caller level")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the caller levels")
    parser.add_argument("--latency-calls", type=int, default=2000, help="sequential calls")
    parser.add_argument("--callgrind-calls", type=int, default=300, help="calls under callgrind")
    parser.add_argument("--cold-calls", type=int, default=10, help="default-format calls")
    parser.add_argument("--no-callgrind", action="store_true", help="skip the callgrind run")
    parser.add_argument("--no-cold", action="store_true", help="skip cold and default format")
    parser.add_argument("--callgrind-only", action="store_true", help="only the callgrind run")
    parser.add_argument(
        "--callgrind-keep",
        metavar="DIR",
        help="keep each case's busy dump in DIR (for callgrind_annotate)",
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args))

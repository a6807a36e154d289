"""Benchmark of the agent on the real engine (not a test): prints medians and ratios.

    .venv/bin/python bench/bench_agent.py [--seconds 5] [--calls 2000]

Needs a running engine and ``hotfn/base:latest`` (scripts/ensure-docker,
scripts/build-images). It builds a hot echo function (hotfn's FDK) and uses the
reference example's Node.js ``func.js`` as the default-format function, starts
``hotfn start`` as a subprocess (network ``none``), and measures in one run:

1. hot latency through hotfn (``POST /invoke``) vs straight to the same container's
   socket (``POST /call`` on ``lsnr.sock``): median and p99; the difference is
   hotfn's overhead (goal ≤ 0.3 ms; Fn adds ~0.6 ms);
2. requests/s at 1, 4 and 16 concurrent callers (Fn: 831 / 1223 / 694);
3. cold first-call latency of a new function (goal ≤ 300 ms; Fn 335 ms);
4. default-format per-call latency next to ``docker run --rm -i`` of the same image.

The load generator is a minimal keep-alive HTTP/1.1 client on asyncio (uvloop when
available), so the client costs as little CPU as possible on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchhttp import Conn, post, tcp_conn, unix_conn  # noqa: E402  (beside this script)
from benchserver import BenchServer  # noqa: E402

from tests.agent import docker_images as images  # noqa: E402  (image building helpers)

ECHO = b"def handler(ctx, data):\n    return data\n"


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


# -- measurements ----------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latencies(conn: Conn, raw: bytes, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, _, _ = await conn.send(raw)
        out.append((time.perf_counter() - t0) * 1000)
        assert status == 200, status
    return out


async def throughput(port: int, raw: bytes, callers: int, seconds: float) -> float:
    conns = [await tcp_conn(port) for _ in range(callers)]
    count = 0
    stop = False

    async def loop(conn: Conn) -> None:
        nonlocal count
        while not stop:
            status, _, _ = await conn.send(raw)
            assert status == 200, status
            count += 1

    tasks = [asyncio.create_task(loop(c)) for c in conns]
    await asyncio.sleep(0.5)  # warm-up
    start_count, t0 = count, time.perf_counter()
    await asyncio.sleep(seconds)
    done, elapsed = count - start_count, time.perf_counter() - t0
    stop = True
    await asyncio.gather(*tasks)
    for c in conns:
        c.close()
    return done / elapsed


async def main(args: argparse.Namespace) -> None:
    echo, node = echo_image(), images.node_default()
    server = BenchServer("bench")
    try:
        app = server.api("POST", "/v2/apps", {"name": "bench"})
        fn = server.api("POST", "/v2/fns", {"name": "echo", "app_id": app["id"], "image": echo})
        invoke = post(f"/invoke/{fn['id']}", b"hello")
        conn = await tcp_conn(server.port)
        await latencies(conn, invoke, 200)  # starts and warms the echo fn's container
        (sock,) = server.sockets()  # the only container so far
        direct = await unix_conn(sock)
        deadline = "2099-01-01T00:00:00Z"
        direct_raw = post("/call", b"hello", f"Fn-Call-Id: x\r\nFn-Deadline: {deadline}\r\n")

        # Alternate blocks so both see the same machine state.
        via, straight = [], []
        for _ in range(10):
            via += await latencies(conn, invoke, args.calls // 10)
            straight += await latencies(direct, direct_raw, args.calls // 10)
        direct.close()

        rates = {c: await throughput(server.port, invoke, c, args.seconds) for c in (1, 4, 16)}

        # Cold first call: new fns of the same image, first call of each.
        conn.close()
        conn = await tcp_conn(server.port)  # the idle one was closed by keep-alive timeout
        cold = []
        for i in range(5):
            f = server.api("POST", "/v2/fns", {"name": f"cold{i}", "app_id": app["id"],
                                               "image": echo, "idle_timeout": 5})  # fmt: skip
            t0 = time.perf_counter()
            status, _, _ = await conn.send(post(f"/invoke/{f['id']}", b"x"))
            cold.append((time.perf_counter() - t0) * 1000)
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
            out = await asyncio.to_thread(
                subprocess.run,
                [images.DOCKER, "run", "--rm", "-i", "--network", "none", node],
                input=b"Bob", capture_output=True, check=True,
            )  # fmt: skip
            run_ms.append((time.perf_counter() - t0) * 1000)
            assert out.stdout == b"Hello Bob from Node!\n"
    finally:
        server.stop()

    med_via, med_direct = statistics.median(via), statistics.median(straight)
    print(f"hot echo, {len(via)} sequential calls each (ms)")
    print(f"  via hotfn /invoke      median {med_via:.3f}  p99 {pct(via, 0.99):.3f}")
    print(f"  straight to socket     median {med_direct:.3f}  p99 {pct(straight, 0.99):.3f}")
    print(f"  hotfn overhead         median {med_via - med_direct:.3f}  (goal <= 0.3; Fn ~0.6)")
    print("throughput via hotfn (req/s; Fn 831 / 1223 / 694, goal >= 2x and no drop 4 -> 16)")
    for c, rate in rates.items():
        fn_rate = {1: 831, 4: 1223, 16: 694}[c]
        print(f"  c={c:<3} {rate:8.0f}   ({rate / fn_rate:.2f}x Fn)")
    print(f"cold first call (ms)     median {statistics.median(cold):.1f}  all "
          f"{[round(x) for x in cold]}  (goal <= 300; Fn 335)")  # fmt: skip
    print(f"default format per call  median {statistics.median(default_ms):.1f} ms via hotfn, "
          f"{statistics.median(run_ms):.1f} ms docker run --rm -i")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput level")
    parser.add_argument("--calls", type=int, default=2000, help="sequential latency calls")
    parser.add_argument("--cold-calls", type=int, default=10, help="default-format calls")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args))

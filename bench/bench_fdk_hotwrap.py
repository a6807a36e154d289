"""Hot-call latency of hotfn's FDK and hotwrap, straight at the container socket.

    .venv/bin/python bench/bench_fdk_hotwrap.py [--calls 2000] [--rounds 10]

Measured side by side in one run (rounds interleave the cases, so machine noise
hits them alike):

- FDK echo (plain and async handler): one keep-alive connection, Fn's request shape;
- hotwrap + ``cat`` per call, against spawning ``cat`` directly with
  ``subprocess.run`` (what the wrapper adds is the difference; goal <= 1 ms, Fn's
  hotwrap + cat: 3.9 ms median through its server);
- hotwrap ``--mode lines`` + ``cat`` (one process for all calls);
- 20 MiB echoed through the FDK and through hotwrap + cat.

Figures for Fn (design.md §8): Python FDK straight to the socket 1.30 ms median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from hotfn.fdk.testing import FnClient, FunctionProcess

ECHO = """
def echo(ctx, data):
    return data

async def echo_async(ctx, data):
    return data
"""
BODY = b"hello hotfn"


def summary(samples: list[float]) -> tuple[float, float]:
    """(median, p99) in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1e3, p99 * 1e3


def timed(call: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def fn_call(client: FnClient, body: bytes) -> Callable[[], object]:
    def call() -> object:
        reply = client.call(body)
        if reply.status != 200 or len(reply.body) != len(body):
            raise RuntimeError(f"unexpected answer {reply!r}")
        return reply

    return call


def spawn_cat() -> object:
    done = subprocess.run(["cat"], input=BODY, stdout=subprocess.PIPE, check=True)
    if done.stdout != BODY:
        raise RuntimeError("cat answered something else")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="FDK calls per case")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    args = parser.parse_args()
    spawn_calls = max(1, args.calls // 4)  # spawning cases are ~5x slower

    with tempfile.TemporaryDirectory() as tmp:
        funcs = os.path.join(tmp, "bench_funcs.py")
        with open(funcs, "w") as file:
            file.write(ECHO)
        python = sys.executable
        functions = {
            "fdk echo (def)": FunctionProcess([python, "-m", "hotfn.fdk", f"{funcs}:echo"]),
            "fdk echo (async def)": FunctionProcess(
                [python, "-m", "hotfn.fdk", f"{funcs}:echo_async"]
            ),
            "hotwrap + cat": FunctionProcess([python, "-m", "hotfn.hotwrap", "cat"]),
            "hotwrap --mode lines + cat": FunctionProcess(
                [python, "-m", "hotfn.hotwrap", "--mode", "lines", "cat"]
            ),
        }
        clients = {name: fn.client() for name, fn in functions.items()}
        try:
            cases: dict[str, tuple[Callable[[], object], int]] = {
                name: (fn_call(client, BODY), args.calls) for name, client in clients.items()
            }
            cases["hotwrap + cat"] = (cases["hotwrap + cat"][0], spawn_calls)
            cases["spawn cat directly"] = (spawn_cat, spawn_calls)
            samples: dict[str, list[float]] = {name: [] for name in cases}
            for call, _ in cases.values():  # warm up
                timed(call, 20)
            for _ in range(args.rounds):
                for name, (call, count) in cases.items():
                    samples[name] += timed(call, max(1, count // args.rounds))

            big = os.urandom(1 << 16) * 320
            large = {
                "fdk echo 20 MiB": fn_call(clients["fdk echo (def)"], big),
                "hotwrap + cat 20 MiB": fn_call(clients["hotwrap + cat"], big),
            }
            large_samples = {name: timed(call, 5) for name, call in large.items()}
        finally:
            for client in clients.values():
                client.close()
            for fn in functions.values():
                fn.stop()

    print(f"{'case':34} {'calls':>6} {'median ms':>10} {'p99 ms':>8}")
    for name, values in {**samples, **large_samples}.items():
        median, p99 = summary(values)
        print(f"{name:34} {len(values):6d} {median:10.3f} {p99:8.3f}")
    wrapped, _ = summary(samples["hotwrap + cat"])
    direct, _ = summary(samples["spawn cat directly"])
    lines, _ = summary(samples["hotwrap --mode lines + cat"])
    fdk, _ = summary(samples["fdk echo (def)"])
    print()
    added = wrapped - direct
    print(f"hotwrap adds {added:+.3f} ms per call to spawning cat ({wrapped / direct:.2f}x);")
    print("  goal <= 1 ms; Fn's hotwrap + cat: 3.94 ms median through its server")
    print(f"hotwrap + cat vs --mode lines: {wrapped / lines:.1f}x")
    print(f"fdk echo vs Fn's Python FDK at the socket (1.30 ms): {1.30 / fdk:.1f}x faster")


if __name__ == "__main__":
    main()

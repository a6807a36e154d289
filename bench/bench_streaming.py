"""Benchmark of streamed bodies on the real engine (not a test): prints medians.

    .venv/bin/python bench/bench_streaming.py [--mib 256] [--rounds 3]

One hotwrap function (tests/faults/functions/stream.sh, output not held back) with its
response limit raised to 1 GiB, on a ``hotfn start`` server (network ``none``).
Measured in one run, alternating through-the-server and direct rounds:

1. throughput of a ``--mib`` MiB response through the server (``POST /invoke``) vs
   read straight from the same container's socket (``POST /call`` on ``lsnr.sock``);
   the goal is a ratio ≥ 50 %;
2. time to first byte of a response whose first line comes at once and the next
   0.5 s later (the ``lines`` mode), through the server and direct;
3. the server's peak RSS while a 1 GiB response streams through it.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchserver import BenchServer  # noqa: E402  (beside this script)

from tests.faults.test_streaming import hotwrap_image  # noqa: E402  (image helper)

MiB = 1024 * 1024


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=300)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.path)
        self.sock = sock


def _read_all(resp: http.client.HTTPResponse) -> int:
    n = 0
    while chunk := resp.read(MiB):
        n += len(chunk)
    return n


def through_server(port: int, fn_id: str, body: bytes) -> tuple[float, float, int]:
    """(seconds to first byte, seconds to the end, bytes) of one call via /invoke."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    t0 = time.perf_counter()
    conn.request("POST", f"/invoke/{fn_id}", body=body)
    resp = conn.getresponse()
    first = resp.read(1)
    ttfb = time.perf_counter() - t0
    n = len(first) + _read_all(resp)
    conn.close()
    return ttfb, time.perf_counter() - t0, n


def direct(sock_path: str, body: bytes) -> tuple[float, float, int]:
    """The same, straight to the container's socket (what the agent sends)."""
    conn = UnixConnection(sock_path)
    t0 = time.perf_counter()
    conn.request("POST", "/call", body=body, headers={"Fn-Call-Id": "bench"})
    resp = conn.getresponse()
    first = resp.read(1)
    ttfb = time.perf_counter() - t0
    n = len(first) + _read_all(resp)
    conn.close()
    return ttfb, time.perf_counter() - t0, n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    image = hotwrap_image()
    server = BenchServer("bstream")
    try:
        app = server.api("POST", "/v2/apps", {"name": "bstream"})
        fn = server.api("POST", "/v2/fns", {
            "name": "stream", "app_id": app["id"], "image": image, "timeout": 300,
            "annotations": {"hotfn.io/max-response-bytes": 1 << 30},
        })  # fmt: skip
        size = args.mib * MiB
        body = f"zeros {size}\n".encode()
        through_server(server.port, fn["id"], b"zeros 10\n")  # start the container
        (sock,) = server.sockets()
        via, straight = [], []
        for _ in range(args.rounds):  # alternating, one sitting
            _, t, n = through_server(server.port, fn["id"], body)
            assert n == size, n
            via.append(size / t / 1e6)
            _, t, n = direct(sock, body)
            straight.append(size / t / 1e6)
        v, d = statistics.median(via), statistics.median(straight)
        print(f"throughput, {args.mib} MiB response (median of {args.rounds}):")
        print(f"  through the server  {v:8.0f} MB/s")
        print(f"  container's socket  {d:8.0f} MB/s")
        print(f"  ratio               {v / d:8.0%}  (goal >= 50 %)")
        t_via, t_direct = [], []
        for _ in range(args.rounds):
            t_via.append(through_server(server.port, fn["id"], b"lines\n")[0] * 1000)
            t_direct.append(direct(sock, b"lines\n")[0] * 1000)
        print("time to first byte, hot, first line at once and the next 0.5 s later:")
        print(f"  through the server  {statistics.median(t_via):8.1f} ms")
        print(f"  container's socket  {statistics.median(t_direct):8.1f} ms")
        before = server.rss_mb()
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                peak[0] = max(peak[0], server.rss_mb())

        sampler = threading.Thread(target=sample)
        sampler.start()
        _, t, n = through_server(server.port, fn["id"], f"zeros {1 << 30}\n".encode())
        done.set()
        sampler.join()
        assert n == 1 << 30, n
        print(f"1 GiB response: {(1 << 30) / t / 1e6:.0f} MB/s; server RSS {before:.0f} MB "
              f"before, peak {peak[0]:.0f} MB (+{peak[0] - before:.0f} MB)")  # fmt: skip
    finally:
        server.stop()


if __name__ == "__main__":
    main()

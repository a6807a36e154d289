"""Does the dashboard slow calls down? (not a test): hot call latency and throughput
with the page at /ui open and polling vs without, side by side in one run.

    PYTHONPATH=. .venv/bin/python bench/bench_ui_polling.py [--rounds 10] [--calls 200]

Needs what bench/bench_agent.py needs plus headless Chromium (scripts/ensure-chromium)
and selenium. One ``hotfn start`` server, one hot echo fn (hotfn's FDK). Rounds
alternate, so every mode sees the same machine state:

- ``off``: the browser shows about:blank;
- ``page``: the browser shows the fn's page (charts + recent calls, polled every 2 s)
  and, in a second tab, the server overview (server stats, polled every 2 s);
- ``api``: no page; a small separate process asks for what both pages ask for, at
  their rate (every 2 s): the server's share of the cost, without the browser's CPU;
- ``api_x10``: the same ten times as often (every 0.2 s): ten dashboards' worth.

Each round measures ``--calls`` sequential calls (median, p99) and requests/s with 4
concurrent callers for ``--seconds``. Chromium's own CPU use is part of what is
measured: the load generator, the server and the browser share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_agent import echo_image, latencies, pct, throughput  # noqa: E402
from benchhttp import post, tcp_conn  # noqa: E402
from benchserver import BenchServer  # noqa: E402

MODES = ("off", "page", "api", "api_x10")
POLL_S = {"api": 2.0, "api_x10": 0.2}


def poll_forever(url: str, fn_id: str, interval: float) -> None:
    """What the open pages ask for, every ``interval`` seconds (a subprocess)."""
    paths = [f"/v2/fns/{fn_id}/stats?window=5m&buckets=30",
             f"/v2/fns/{fn_id}/calls?per_page=30", "/v2/stats?window=5m&buckets=30"]  # fmt: skip
    while True:
        for path in paths:
            urllib.request.urlopen(url + path, timeout=10).read()
        time.sleep(interval)


def start_poller(url: str, fn_id: str, interval: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, "--poll", url, fn_id, str(interval)])


class Dashboard:
    """Chromium with the fn page and the server overview open (or about:blank)."""

    def __init__(self, url: str, fn_id: str) -> None:
        from tests.ui.browser import Browser

        self.browser = Browser()
        self.url, self.fn_id = url, fn_id
        self.driver = self.browser.driver
        self.driver.switch_to.new_window("tab")
        self.tabs = self.driver.window_handles

    def show(self, on: bool) -> None:
        pages = [f"{self.url}/ui/#/fns/{self.fn_id}", f"{self.url}/ui/"]
        for tab, page in zip(self.tabs, pages, strict=True):
            self.driver.switch_to.window(tab)
            self.browser.open(page if on else "about:blank")
            if on:
                self.browser.find("figure.chart")  # loaded and polling

    def quit(self) -> None:
        self.browser.quit()


async def main(args: argparse.Namespace) -> None:
    echo = echo_image()
    server = BenchServer("uibench")
    dash: Dashboard | None = None
    poller: subprocess.Popen[bytes] | None = None
    results: dict[str, dict[str, list[float]]] = {m: {"lat": [], "rps": []} for m in MODES}
    try:
        app = server.api("POST", "/v2/apps", {"name": "bench"})
        fn = server.api("POST", "/v2/fns", {"name": "echo", "app_id": app["id"], "image": echo})
        invoke = post(f"/invoke/{fn['id']}", b"hello")
        conn = await tcp_conn(server.port)
        await latencies(conn, invoke, 200)  # start and warm the container
        dash = Dashboard(server.url, fn["id"])
        for _ in range(args.rounds):
            for mode in MODES:
                dash.show(mode == "page")
                if mode in POLL_S:
                    poller = start_poller(server.url, fn["id"], POLL_S[mode])
                    await asyncio.sleep(0.5)
                conn.close()
                conn = await tcp_conn(server.port)
                results[mode]["lat"] += await latencies(conn, invoke, args.calls)
                results[mode]["rps"].append(await throughput(server.port, invoke, 4, args.seconds))
                if poller is not None:
                    poller.kill()
                    poller.wait()
                    poller = None
        conn.close()
    finally:
        if poller is not None:
            poller.kill()
            poller.wait()
        if dash is not None:
            dash.quit()
        left = server.stop()
        if left:
            print(f"containers left behind (removed): {left}")
    calls = args.calls * args.rounds
    print(f"hot echo via /invoke, {args.rounds} alternating rounds; {calls} sequential calls "
          f"per mode; requests/s at 4 callers, {args.seconds:g} s per round")  # fmt: skip
    print(f"{'mode':<8} {'median ms':>10} {'p99 ms':>8} {'req/s (median)':>15}")
    base = statistics.median(results["off"]["lat"])
    for mode in MODES:
        lat, rps = results[mode]["lat"], results[mode]["rps"]
        med = statistics.median(lat)
        print(f"{mode:<8} {med:10.3f} {pct(lat, 0.99):8.3f} {statistics.median(rps):15.0f}"
              f"   ({med - base:+.3f} ms vs off)")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--poll":
        poll_forever(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=200, help="sequential calls per round")
    parser.add_argument("--seconds", type=float, default=2.0, help="throughput per round")
    asyncio.run(main(parser.parse_args()))

"""Soak benchmark (not a test): sustained load on a real server, loopback only.

    .venv/bin/python bench/soak.py [--minutes 10] [--concurrency 64] [--warmup 1]

Starts its own ``hotfn start`` (SQLite, network ``none``, its own instance label),
deploys three functions and keeps ``--concurrency`` closed-loop callers busy for
``--minutes``: 5/8 of them call a hot Python FDK echo (hotfn/python), 1/4 a hotwrap
function running ``cat`` per call, 1/8 a default-format function (one container per
call). Every answer is checked (status, body). It prints one row per minute (calls,
errors by status, p50/p99 latency, server RSS), then the server's RSS at start,
after warm-up and at the end, and checks:

- errors: only 503 answers that carry ``Retry-After`` (documented back-pressure)
  are allowed; anything else (other statuses, wrong bodies, broken connections)
  fails the run;
- memory: RSS growth from the end of warm-up to the end under 10 %;
- containers: none of the server's is left after it stops.

Exit status 0 when all three hold. Needs the engine and the local images
(scripts/ensure-docker, scripts/build-images). The machine may be shared: other
processes' load shows up in latency, never in correctness.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchhttp import Conn, post, tcp_conn  # noqa: E402  (beside this script)
from benchserver import BenchServer  # noqa: E402

from tests.docker_support import build_image  # noqa: E402  (image helpers)

HOT_FUNC = b"def handler(ctx, data):\n    return data\n"
COLD_FUNC = b"import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\n"


def build_images() -> dict[str, str]:
    hot = build_image(
        "hotfn-soak/hot:1",
        "FROM hotfn/python:latest\nCOPY func.py /function/func.py\n"
        'ENTRYPOINT ["fdk", "/function/func.py", "handler"]\n',
        {"func.py": HOT_FUNC},
    )
    hotwrap = build_image(
        "hotfn-soak/hotwrap:1",
        "FROM hotfn/base:latest\nCOPY --from=hotfn/hotwrap:latest /hotwrap /hotwrap\n"
        'ENTRYPOINT ["/hotwrap"]\nCMD ["cat"]\n',
    )
    cold = build_image(
        "hotfn-soak/default:1",
        'FROM hotfn/base:latest\nCOPY func.py /func.py\nENTRYPOINT ["python3", "/func.py"]\n',
        {"func.py": COLD_FUNC},
    )
    return {"hot": hot, "hotwrap": hotwrap, "default": cold}


# -- load -------------------------------------------------------------------------------


@dataclass
class Minute:
    calls: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    rss_mb: float = 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def caller(
    port: int, path: str, kind: str, stats: list[Minute], t0: float, end: float
) -> None:
    conn: Conn | None = None
    n = 0
    while time.monotonic() < end:
        n += 1
        body = f"{kind}-{n}-{secrets.token_hex(8)}".encode()
        raw = post(path, body)
        started = time.monotonic()
        minute = stats[min(len(stats) - 1, int((started - t0) // 60))]
        try:
            if conn is None:
                conn = await tcp_conn(port)
            status, head, answer = await conn.send(raw)
        except (ConnectionError, OSError) as exc:
            minute.errors[f"conn:{type(exc).__name__}"] += 1
            if conn is not None:
                conn.close()
            conn = None
            await asyncio.sleep(0.1)
            continue
        minute.calls += 1
        minute.latencies.append((time.monotonic() - started) * 1000)
        if status == 200:
            if answer != body:
                minute.errors["200-wrong-body"] += 1
        elif status == 503 and b"\r\nretry-after:" in head:
            minute.errors["503+Retry-After"] += 1
            await asyncio.sleep(0.05)
        else:
            minute.errors[str(status)] += 1
    if conn is not None:
        conn.close()


async def sample_rss(server: BenchServer, stats: list[Minute], t0: float, end: float) -> None:
    while time.monotonic() < end:
        i = min(len(stats) - 1, int((time.monotonic() - t0) // 60))
        stats[i].rss_mb = server.rss_mb()
        await asyncio.sleep(1.0)


async def load(
    server: BenchServer, paths: dict[str, str], args: argparse.Namespace
) -> list[Minute]:
    minutes = max(1, round(args.minutes))
    stats = [Minute() for _ in range(minutes)]
    c = args.concurrency
    n_default = max(1, c // 8)
    n_hotwrap = max(1, c // 4)
    kinds = ["default"] * n_default + ["hotwrap"] * n_hotwrap
    kinds += ["hot"] * (c - len(kinds))
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    tasks = [caller(server.port, paths[k], k, stats, t0, end) for k in kinds]
    await asyncio.gather(sample_rss(server, stats, t0, end), *tasks)
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=1.0, help="minutes before RSS baseline")
    args = parser.parse_args()

    images = build_images()
    server = BenchServer("soak")
    try:
        app = server.api("POST", "/v2/apps", {"name": "soak"})
        paths = {}
        for kind, image in images.items():
            fn = server.api("POST", "/v2/fns", {
                "name": kind, "app_id": app["id"], "image": image,
                "format": "default" if kind == "default" else "http-stream",
            })  # fmt: skip
            paths[kind] = f"/invoke/{fn['id']}"
        rss_start = server.rss_mb()
        print(f"server pid {server.proc.pid}, RSS at start {rss_start:.1f} MB; "
              f"{args.concurrency} callers for {args.minutes:g} min", flush=True)  # fmt: skip
        stats = asyncio.run(load(server, paths, args))
        rss_end = server.rss_mb()
    finally:
        left = server.stop()

    cols = ("calls", "calls/s", "p50 ms", "p99 ms", "RSS MB")
    print(f"\n{'min':>3} " + " ".join(f"{c:>7}" for c in cols) + "  errors")
    bad = Counter[str]()
    for i, m in enumerate(stats):
        errs = ", ".join(f"{k}: {v}" for k, v in sorted(m.errors.items())) or "-"
        secs = min(60.0, args.minutes * 60 - i * 60)
        print(f"{i + 1:>3} {m.calls:>7} {m.calls / secs:>7.0f} {pct(m.latencies, 0.5):>7.1f} "
              f"{pct(m.latencies, 0.99):>7.1f} {m.rss_mb:>7.1f}  {errs}")  # fmt: skip
        bad.update({k: v for k, v in m.errors.items() if k != "503+Retry-After"})
    total = sum(m.calls for m in stats)
    warm = max(0, min(len(stats) - 1, round(args.warmup) - 1))
    rss_warm = stats[warm].rss_mb or rss_start
    growth = (rss_end - rss_warm) / rss_warm * 100 if rss_warm else 0.0
    print(f"\ncalls served: {total}; all latencies p50 "
          f"{pct([x for m in stats for x in m.latencies], 0.5):.1f} ms, p99 "
          f"{pct([x for m in stats for x in m.latencies], 0.99):.1f} ms")  # fmt: skip
    print(f"server RSS: start {rss_start:.1f} MB, after warm-up (minute {warm + 1}) "
          f"{rss_warm:.1f} MB, end {rss_end:.1f} MB: growth {growth:+.1f} %")  # fmt: skip
    print(f"containers left after stop: {len(left)}")
    ok = not bad and growth < 10 and not left
    print("PASS" if ok else f"FAIL: errors {dict(bad)}, growth {growth:.1f} %, left {left}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

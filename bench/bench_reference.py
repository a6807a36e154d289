"""Benchmark of the reference example (issue 4), not a test: prints medians and ratios.

    .venv/bin/python bench/bench_reference.py [--calls 20] [--hot-calls 200] [--firsts 3]

Needs a running engine and the local images (scripts/ensure-docker,
scripts/build-images; run here if needed). In one run it:

1. builds the reference example (``examples/reference``) as written, with only its
   registry image names replaced by local ones (``node:8-alpine`` → hotfn/base,
   ``fnproject/hotwrap:latest`` → this checkout's hotwrap binary): ``Dockerfile.default``
   (cold, ``format: default``) and ``Dockerfile.hotwrap`` (hot, node started per call,
   on a node image with every python3 package removed: /hotwrap needs none); its
   FDK form in Node (``examples/reference/fdk``: func.js as a handler on Fn's Node
   FDK, built as ``hotfn build`` builds it, on hotfn/node); hotfn's Python FDK
   variant (``examples/hello/Dockerfile.fdk``) and hotwrap + ``cat``;
2. starts its own ``hotfn start`` (SQLite in a temp dir, ``HOTFN_NETWORK=none``);
3. per variant: the first call of ``--firsts`` new fns (container start included,
   or a warm generic container specialised where the image allows it: the FDK
   forms; the median is shown) and the median and p90 of ``--calls`` later calls
   (``--hot-calls`` for the fast ones) through ``POST /invoke`` on a keep-alive
   connection;
4. ``docker run --rm -i`` of the default image per call, side by side;
5. the two FDK forms' hot calls again, alternating blocks with a minimal client
   (``--ab-rounds``), so Node's and Python's FDK see the same machine state;
6. prints the article's figures (a laptop, Docker for Mac, timed with ``time``) and
   Fn's measured on this kind of machine (design.md §8) next to hotfn's.

Everything it makes (images, containers, temp dirs) is removed at the end.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.docker_support import (  # noqa: E402  (shared Docker helpers)
    BASE_IMAGE,
    DOCKER,
    build_image,
    containers_with,
    docker,
    ensure_images,
    remove_containers_with,
)
from tests.e2e.hotwrap_images import HOTWRAP_DOCKERFILE, NODE_WITHOUT_PYTHON  # noqa: E402
from tests.e2e.reference import EXAMPLE, HELLO, localized_dockerfile, node_fdk_build  # noqa: E402
from tests.hotwrap.conftest import hotwrap_binary  # noqa: E402
from tests.server_support import ServerProcess  # noqa: E402


def cat_dockerfile(hotwrap: str) -> str:
    return (
        f"FROM {BASE_IMAGE}\n"
        f"COPY --from={hotwrap} /hotwrap /hotwrap\n"
        'ENTRYPOINT ["/hotwrap"]\n'
        'CMD ["cat"]\n'
    )


@dataclass
class Variant:
    key: str
    label: str
    image: str
    fmt: str
    expect: bytes  # the answer to the body b"Bob"
    calls: int  # later calls to time
    article: str  # the article's figures (first / later)
    fn_figure: str  # Fn's, measured on this kind of machine (design.md §8)
    article_later_ms: float | None = None
    article_first_ms: float | None = None
    fn_first_ms: float | None = None
    fn_later_ms: float | None = None
    firsts: list[float] = field(default_factory=list)
    later: list[float] = field(default_factory=list)
    paths: set[str] = field(default_factory=set)  # how the first calls were served
    fn_id: str = ""  # the fn whose later calls were timed


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ok(resp: httpx.Response) -> dict[str, Any]:
    if resp.status_code != 200:
        raise RuntimeError(
            f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
        )
    out: dict[str, Any] = resp.json()
    return out


def timed_invoke(client: httpx.Client, fn_id: str, expect: bytes) -> float:
    t0 = time.perf_counter()
    resp = client.post(f"/invoke/{fn_id}", content=b"Bob")
    elapsed = (time.perf_counter() - t0) * 1000
    if resp.status_code != 200 or resp.content != expect:
        raise RuntimeError(f"unexpected answer {resp.status_code} {resp.content[:200]!r}")
    return elapsed


def raw_latencies(port: int, fn_id: str, n: int) -> list[float]:
    """``n`` hot calls on one keep-alive socket with a minimal client (a fixed request,
    Content-Length or chunked answers): what the server and function take, not httpx."""
    req = (f"POST /invoke/{fn_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "Content-Length: 3\r\n\r\nBob").encode()  # fmt: skip
    out = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(n):
            t0 = time.perf_counter()
            sock.sendall(req)
            buf = b""
            while True:
                buf += sock.recv(65536)
                head, sep, body = buf.partition(b"\r\n\r\n")
                if not sep:
                    continue
                low = head.lower()
                if b"transfer-encoding: chunked" in low:
                    if body.endswith(b"0\r\n\r\n"):
                        break
                elif len(body) >= int(low.split(b"content-length:")[1].split(b"\r\n")[0]):
                    break
            out.append((time.perf_counter() - t0) * 1000)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer {buf[:200]!r}")
    return out


def hot_ab(port: int, variants: list[Variant], rounds: int, calls: int) -> dict[str, list[float]]:
    """The FDK forms' hot calls through the server, alternating blocks of ``calls``."""
    out: dict[str, list[float]] = {v.label: [] for v in variants}
    for _ in range(rounds):
        for v in variants:
            out[v.label] += raw_latencies(port, v.fn_id, calls)
    return out


def first_path(client: httpx.Client, fn_id: str) -> str:
    """How the fn's one call so far was served (its record is written shortly after)."""
    for _ in range(100):
        items = ok(client.get(f"/v2/fns/{fn_id}/calls"))["items"]
        if items:
            return str(items[0]["start_path"])
        time.sleep(0.05)
    return "?"


def measure(client: httpx.Client, app_id: str, variant: Variant, firsts: int) -> None:
    fn_id = ""
    for i in range(firsts):
        body = {"name": f"{variant.key}-{i}", "app_id": app_id, "image": variant.image,
                "format": variant.fmt, "idle_timeout": 60}  # fmt: skip
        fn_id = ok(client.post("/v2/fns", json=body))["id"]
        variant.firsts.append(timed_invoke(client, fn_id, variant.expect))
        variant.paths.add(first_path(client, fn_id))
        time.sleep(1.0)  # the warm generic pool refills in the background
    variant.later = [timed_invoke(client, fn_id, variant.expect) for _ in range(variant.calls)]
    variant.fn_id = fn_id


def docker_run_per_call(image: str, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        done = subprocess.run(
            [DOCKER, "run", "--rm", "-i", "--network", "none", image],
            input=b"Bob", capture_output=True, check=True, timeout=120,
        )  # fmt: skip
        out.append((time.perf_counter() - t0) * 1000)
        if done.stdout != b"Hello Bob from Node!\n":
            raise RuntimeError(f"docker run answered {done.stdout!r}")
    return out


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "—"
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"


def report(variants: list[Variant], run_ms: list[float]) -> None:
    default = variants[0]
    default_later = statistics.median(default.later)
    run_median = statistics.median(run_ms)
    print()
    print("Reference example through hotfn (POST /invoke, body 'Bob'; first = container start")
    print(f"included, median of {len(default.firsts)} new fns; later = calls to the same fn)")
    print()
    header = (f"{'variant [first call served by]':<44} {'first':>9} {'later med':>10} "
              f"{'later p90':>10} "
              f"{'vs default':>10}   {'article (laptop): first / later':<32} "
              "Fn, this machine")  # fmt: skip
    print(header)
    print("-" * (len(header) + 6))
    for v in variants:
        med = statistics.median(v.later)
        label = f"{v.label} [{','.join(sorted(v.paths))}]"
        print(f"{label:<44} {fmt_ms(statistics.median(v.firsts)):>9} {fmt_ms(med):>10} "
              f"{fmt_ms(pct(v.later, 0.9)):>10} {default_later / med:>9.1f}x   "
              f"{v.article:<32} {v.fn_figure}")  # fmt: skip
    print(f"{'docker run --rm -i (default)':<44} {fmt_ms(run_ms[0]):>9} {fmt_ms(run_median):>10} "
          f"{fmt_ms(pct(run_ms, 0.9)):>10} {default_later / run_median:>9.1f}x   "
          f"{'~0.5 s (README, this machine)':<32} 250–360 ms (Debian)")  # fmt: skip
    print()
    print("Ratios (> 1: hotfn here is faster):")
    for v in variants:
        med = statistics.median(v.later)
        parts = []
        if v.article_later_ms:
            parts.append(f"later {v.article_later_ms / med:.1f}x the article's")
        if v.article_first_ms:
            first = statistics.median(v.firsts)
            parts.append(f"first {v.article_first_ms / first:.1f}x the article's")
        if v.fn_first_ms:
            parts.append(f"first {v.fn_first_ms / statistics.median(v.firsts):.2f}x Fn's")
        if v.fn_later_ms:
            parts.append(f"later {v.fn_later_ms / med:.2f}x Fn's")
        print(f"  {v.label:<30} " + ", ".join(parts))
    print(f"  {'default format vs docker run':<30} {run_median / default_later:.2f}x "
          "(docker run --rm -i per call / hotfn's default-format call)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="later calls, node variants")
    parser.add_argument("--hot-calls", type=int, default=200, help="later calls, FDK and cat")
    parser.add_argument("--firsts", type=int, default=3, help="new fns timed for the first call")
    parser.add_argument("--ab-rounds", type=int, default=10, help="alternating FDK blocks")
    args = parser.parse_args()

    ensure_images()
    tag = "b" + secrets.token_hex(4)
    work = Path(tempfile.mkdtemp(prefix="hotfn-bench-ref-"))
    instance = "bref" + secrets.token_hex(4)
    built: list[str] = []
    server: ServerProcess | None = None
    try:
        js = {"func.js": EXAMPLE / "func.js"}
        print("building images ...", flush=True)
        # This checkout's /hotwrap (hotfn/hotwrap:latest is a shared tag), and the
        # hotwrap variant on a node image without python3: /hotwrap needs none.
        binary = {"hotwrap": Path(hotwrap_binary())}
        hotwrap = build_image(f"hotfn-bench/hotwrap:{tag}", HOTWRAP_DOCKERFILE, binary)
        nopy = build_image(f"hotfn-bench/node-without-python:{tag}", NODE_WITHOUT_PYTHON)
        for name, dockerfile, files in [
            ("default", localized_dockerfile("Dockerfile.default"), js),
            ("hotwrap", localized_dockerfile("Dockerfile.hotwrap", nopy, hotwrap), js),
            ("fdk", (HELLO / "Dockerfile.fdk").read_text(), {"func.py": HELLO / "func.py"}),
            ("cat", cat_dockerfile(hotwrap), {}),
            ("node-fdk", *node_fdk_build()),
        ]:
            built.append(build_image(f"hotfn-bench/ref-{name}:{tag}", dockerfile, files))
        built += [nopy, hotwrap]
        node = b"Hello Bob from Node!\n"
        variants = [
            Variant("default", "default format (node, cold)", built[0], "default", node,
                    args.calls, "~1.3 s / ~1.3 s", "—",
                    article_first_ms=1300, article_later_ms=1300),
            Variant("hotwrap", "hotwrap + node (no python3)", built[1], "http-stream", node,
                    args.calls, "0.775 s / ~0.2 s", "115 ms later",
                    article_first_ms=775, article_later_ms=200, fn_later_ms=115),
            Variant("node-fdk", "Node FDK (reference/fdk)", built[4], "http-stream", node,
                    args.hot_calls, "— (no FDK figure)", "1.4 ms later (Fn's FDK)",
                    fn_later_ms=1.4),
            Variant("fdk", "Python FDK (examples/hello)", built[2], "http-stream",
                    b"Hello Bob from Python!\n", args.hot_calls, "— (no FDK figure)",
                    "335 ms / 1.91 ms", fn_first_ms=335, fn_later_ms=1.91),
            Variant("cat", "hotwrap + cat", built[3], "http-stream", b"Bob", args.hot_calls,
                    "—", "3.94 ms later", fn_later_ms=3.94),
        ]  # fmt: skip
        server = ServerProcess(
            f"sqlite:///{work / 'hotfn.db'}", work / "server",
            HOTFN_NETWORK="none", HOTFN_INSTANCE=instance,
        ).start()  # fmt: skip
        with httpx.Client(base_url=server.url, timeout=120) as client:
            client.get("/")  # open the keep-alive connection before timing
            app = ok(client.post("/v2/apps", json={"name": "bench-ref-" + tag}))
            for variant in variants:
                print(f"measuring {variant.label} ...", flush=True)
                measure(client, app["id"], variant, args.firsts)
        fdks = [v for v in variants if v.key in ("node-fdk", "fdk")]
        print("measuring the FDK forms' hot calls, alternating ...", flush=True)
        ab = hot_ab(server.port, fdks, args.ab_rounds, 100)
        print("measuring docker run --rm -i ...", flush=True)
        run_ms = docker_run_per_call(built[0], args.calls)
        report(variants, run_ms)
        print()
        print(
            f"FDK forms, hot calls through the server with a minimal client ({args.ab_rounds} "
            "alternating blocks of 100 each; goal for the Node FDK: median <= 1.0 ms):"
        )
        for label, values in ab.items():
            print(f"  {label:<30} median {statistics.median(values):.3f} ms  "
                  f"p90 {pct(values, 0.9):.3f} ms")  # fmt: skip
        return 0
    finally:
        if server is not None:
            server.stop()
        labels = {"io.hotfn.instance": instance}
        left = containers_with(labels)
        if left:
            print(f"WARNING: the server left containers behind: {left}", file=sys.stderr)
            remove_containers_with(labels)
        for image in built:
            docker("rmi", "-f", image, check=False)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(Path("/tmp") / f"hotfn-iofs-{instance}", ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

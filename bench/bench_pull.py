"""Pulling images from a registry (not a test).

    .venv/bin/python bench/bench_pull.py [--runs 7]

Needs the engine, the local images and Debian's docker-registry (scripts/test
installs them all). Starts a registry on loopback, pushes a function image built
FROM hotfn/python with a layer of its own (random bytes, so no other image shares it;
the image's size, its layers and what a pull fetches are printed), then measures
side by side, alternating, in one run:

1. the pull itself: ``DockerDriver.pull`` against ``docker pull`` of the same
   reference, the image removed from the engine before each;
2. a fn's first call through a real ``hotfn start`` server: with the image on the
   engine, and with it removed (so the agent pulls it first). Each run uses a new
   fn, so each first call starts a container.

Prints medians and the ratios.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from hotfn.drivers.docker import DockerDriver  # noqa: E402
from tests.docker_support import build_image, docker, ensure_images  # noqa: E402
from tests.registry_support import local_registry  # noqa: E402
from tests.server_support import ServerProcess  # noqa: E402

FUNC = b"def handler(ctx, data):\n    return data\n"
OWN_MB = 32  # the layer only this image has: what a node with the base must fetch


def fn_image() -> str:
    return build_image(
        "hotfn-bench/pull-py:latest",
        "FROM hotfn/python:latest\nWORKDIR /function\nCOPY func.py /function/\n"
        f"RUN head -c {OWN_MB}000000 /dev/urandom > /function/blob\n"
        'ENTRYPOINT ["fdk", "/function/func.py", "handler"]\n',
        {"func.py": FUNC},
    )


def describe(ref: str) -> str:
    info = json.loads(docker("image", "inspect", ref))[0]
    layers = info["RootFS"]["Layers"]
    base = json.loads(docker("image", "inspect", "hotfn/python:latest"))[0]["RootFS"]["Layers"]
    own = len([layer for layer in layers if layer not in base])
    return (
        f"{info['Size'] / 1e6:.0f} MB, {len(layers)} layers; a pull fetches {own} of them "
        f"(~{OWN_MB} MB), the rest are hotfn/python's"
    )


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


async def driver_pull(ref: str) -> float:
    driver = DockerDriver()
    try:
        began = time.perf_counter()
        await driver.pull(ref)
        return time.perf_counter() - began
    finally:
        await driver.close()


def cli_pull(ref: str) -> float:
    began = time.perf_counter()
    subprocess.run(["docker", "pull", "-q", ref], check=True, capture_output=True)
    return time.perf_counter() - began


def first_call(client: httpx.Client, app_id: str, ref: str) -> float:
    fn = client.post(
        "/v2/fns",
        json={"app_id": app_id, "name": f"b{secrets.token_hex(4)}", "image": ref,
              "annotations": {"hotfn.io/generic": False}},
    ).json()  # fmt: skip
    began = time.perf_counter()
    answer = client.post(f"/invoke/{fn['id']}", content=b"ping")
    elapsed = time.perf_counter() - began
    assert answer.status_code == 200, answer.text
    client.delete(f"/v2/fns/{fn['id']}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    ensure_images()
    local = fn_image()
    with local_registry() as reg, tempfile.TemporaryDirectory() as tmp:
        ref = reg.push(local, "bench/pull-py:1")
        print(f"image {ref}: {describe(ref)}")
        # Only the registry's name may hold the image, so removing it drops its own
        # layers and every pull below fetches them.
        docker("rmi", local)
        pulls: dict[str, list[float]] = {"driver": [], "docker pull": []}
        for _ in range(args.runs):
            for name in pulls:
                reg.forget(ref)
                took = asyncio.run(driver_pull(ref)) if name == "driver" else cli_pull(ref)
                pulls[name].append(took)
        server = ServerProcess(None, Path(tmp), HOTFN_NETWORK="none").start()
        try:
            with httpx.Client(base_url=server.url, timeout=120) as client:
                app = client.post("/v2/apps", json={"name": "pullbench"}).json()
                calls: dict[str, list[float]] = {"image present": [], "pulled first": []}
                for _ in range(args.runs):
                    for name in calls:
                        if name == "pulled first":
                            reg.forget(ref)
                        calls[name].append(first_call(client, app["id"], ref))
        finally:
            server.stop()
    print(f"\n{'pull':<16}{'median ms':>12}")
    for name, values in pulls.items():
        print(f"{name:<16}{median_ms(values):>12.1f}")
    ratio = median_ms(pulls["driver"]) / median_ms(pulls["docker pull"])
    print(f"driver / docker pull: {ratio:.2f}")
    print(f"\n{'first call':<16}{'median ms':>12}")
    for name, values in calls.items():
        print(f"{name:<16}{median_ms(values):>12.1f}")
    added = median_ms(calls["pulled first"]) - median_ms(calls["image present"])
    print(f"the pull adds {added:.0f} ms to a first call ({args.runs} runs each, alternating)")


if __name__ == "__main__":
    main()

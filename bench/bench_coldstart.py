"""First-call latency of a Python and a Node function by cold-start path (not a test).

    .venv/bin/python bench/bench_coldstart.py [--runs 15] [--runtime python|node|both]

Needs a running engine and the local images (scripts/ensure-docker,
scripts/build-images). Builds a function image FROM hotfn/python and one FROM
hotfn/node (an echo on Fn's Node FDK), as a user would, runs an in-process agent on
the real engine (network ``none``) and measures, in one run, the latency of the
*first* call of a fresh fn (new fn id each time, so a new pool) by path, the
runtimes alternating:

1. plain image start — a new container from the fn's image (``hotfn.io/generic: false``);
2. specialised generic container — a warm generic container of the runtime (``fdk
   --generic``; images/node/generic.js) takes the fn's code, config and memory
   (goals: Python ≤ 30 ms, Node ≤ 40 ms median, where a container start costs
   ~300 ms; Fission claims ~100 ms for its pool);
3. provisioned — ``hotfn.io/provisioned: 1``, containers started at deploy.

Prints medians, p90 and the ratio to the plain start.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from hotfn.agent.agent import Agent  # noqa: E402
from hotfn.agent.call_log import new_call_id  # noqa: E402
from hotfn.agent.httpstream import CallRequest  # noqa: E402
from hotfn.config import Settings  # noqa: E402
from hotfn.drivers.docker import DockerDriver  # noqa: E402
from hotfn.store import tables  # noqa: E402
from hotfn.store.call_records import CallStore  # noqa: E402
from hotfn.types import App, Fn, Target  # noqa: E402
from tests.docker_support import build_image, ensure_images  # noqa: E402

FUNC = b"def handler(ctx, data):\n    return data\n"
FUNC_JS = b"""\
const fdk = require("@fnproject/fdk");
fdk.handle((input, ctx) => {
  ctx.responseContentType = "application/octet-stream";
  return input;
}, { inputMode: "buffer" });
"""
GOALS_MS = {"python": 30, "node": 40}


class _Db:
    def __init__(self, engine: Any) -> None:
        self.engine = engine


def fn_image(runtime: str) -> str:
    if runtime == "node":  # as `hotfn build` builds `hotfn init --runtime node`
        return build_image(
            "hotfn-bench/coldstart-node:latest",
            "FROM hotfn/node:latest\nWORKDIR /function\nCOPY func.js /function/\n"
            'ENTRYPOINT ["node", "func.js"]\n',
            {"func.js": FUNC_JS},
        )
    return build_image(
        "hotfn-bench/coldstart-py:latest",
        "FROM hotfn/python:latest\nWORKDIR /function\nCOPY func.py /function/\n"
        'ENTRYPOINT ["fdk", "/function/func.py", "handler"]\n',
        {"func.py": FUNC},
    )


def target(image: str, annotations: dict[str, Any]) -> Target:
    app = App(id="A" * 26, name="bench")
    fn = Fn(id=new_call_id(), name="f" + secrets.token_hex(3), app_id=app.id, image=image,
            annotations=annotations, config={"GREETING": "hi"})  # fmt: skip
    return Target(app=app, fn=fn)


async def wait_for(cond: Callable[[], bool]) -> None:
    for _ in range(3000):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise RuntimeError("timed out waiting for containers")


async def first_call(agent: Agent, t: Target) -> tuple[float, str]:
    req = CallRequest(new_call_id(), "POST", "http://x/invoke", [], b"ping", False)
    from hotfn.agent.call_log import utcnow
    from hotfn.types import CallRecord

    record = CallRecord(req.call_id, t.fn.id, t.app.id, "queued", utcnow())
    t0 = time.perf_counter()
    result = await agent.call(t, req, record)
    ms = (time.perf_counter() - t0) * 1000
    assert result.status == 200 and result.body == b"ping", result
    return ms, record.start_path or "?"


async def main(runs: int, runtimes: list[str]) -> None:
    ensure_images()
    images = {rt: fn_image(rt) for rt in runtimes}
    with tempfile.TemporaryDirectory(prefix="hotfn-bench-") as tmp:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp}/calls.db")
        async with engine.begin() as conn:
            await conn.run_sync(tables.metadata.create_all)
        generic_images = {rt: f"hotfn/{rt}:latest" for rt in runtimes}
        settings = Settings(data_dir=Path(tmp), network_mode="none", generic_pool_size=2,
                            container_labels={"io.hotfn.bench": "coldstart"},
                            generic_images=generic_images)  # fmt: skip
        store = CallStore(_Db(engine), settings)
        driver = DockerDriver()
        agent = Agent(driver, settings, store)
        await agent.start()
        pools = agent.generic
        assert pools is not None
        kinds = ("plain", "specialised", "provisioned")
        Key = tuple[str, str]  # (runtime, path)
        results: dict[Key, list[float]] = {(rt, k): [] for rt in runtimes for k in kinds}
        paths: dict[Key, set[str]] = {key: set() for key in results}
        try:
            for _ in range(runs):
                for rt, image in images.items():
                    no_generic = {"hotfn.io/generic": False}
                    ms, path = await first_call(agent, target(image, no_generic))
                    results[rt, "plain"].append(ms)
                    paths[rt, "plain"].add(path)
                    # Wait for the generic pool to be full again (it refills in the background).
                    await wait_for(lambda rt=rt: len(pools.idle.get(rt, [])) >= 2)  # type: ignore[misc]
                    ms, path = await first_call(agent, target(image, {}))
                    results[rt, "specialised"].append(ms)
                    paths[rt, "specialised"].add(path)
                    t = target(image, {"hotfn.io/provisioned": 1, "hotfn.io/generic": False})
                    pool = await agent.provisioner.provision(t)
                    assert pool is not None
                    await wait_for(lambda p=pool: p.fleet.counts()["idle"] >= 1)  # type: ignore[misc]
                    ms, path = await first_call(agent, t)
                    results[rt, "provisioned"].append(ms)
                    paths[rt, "provisioned"].add(path)
                    for p in agent.pools():
                        agent.provisioner.fn_changed(p.target.fn.id)  # drop the fns: memory flat
                    await asyncio.sleep(0.3)
        finally:
            await agent.shutdown()
            await store.close()
            await driver.close()
            await engine.dispose()
    print(f"first-call latency by path, {runs} fresh fns per path and runtime\n")
    print(f"{'runtime':<9}{'path':<14}{'recorded as':<14}{'median ms':>10}{'p90 ms':>9}"
          f"{'vs plain':>10}")  # fmt: skip
    for (rt, name), values in results.items():
        plain = statistics.median(results[rt, "plain"])
        values.sort()
        med = statistics.median(values)
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        print(
            f"{rt:<9}{name:<14}{','.join(sorted(paths[rt, name])):<14}{med:>10.1f}{p90:>9.1f}"
            f"{med / plain:>9.2f}×"
        )
    goals = ", ".join(f"{rt} ≤ {GOALS_MS[rt]} ms" for rt in runtimes)
    print(f"\ngoal: specialised median {goals} (a container start ~300 ms; Fission ~100 ms)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--runtime", choices=("python", "node", "both"), default="both")
    args = ap.parse_args()
    chosen = ["python", "node"] if args.runtime == "both" else [args.runtime]
    asyncio.run(main(args.runs, chosen))

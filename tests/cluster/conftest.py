"""Three hotfn servers on one PostgreSQL behind nginx on loopback, on the real engine.

``cluster`` lives for the module: the tests that kill a node restart it. Every node
has its own instance label (``cl<session>n<i>``), data dir and port, and runs with
``HOTFN_SPILL_TO`` (hotfn/cluster/nginx.conf.template) and a pool of at most one
container and one waiting call per fn, so the overload test can fill a node.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hotfn.cluster.local import LocalCluster, Nginx, wait_until_answers
from hotfn.cluster.nginx_conf import SPILL_LOCATION, Routing
from tests.docker_support import (
    build_image,
    containers_with,
    ensure_images,
    remove_containers_with,
)
from tests.server_support import (
    ROOT,
    ServerProcess,
    create_pg_database,
    drop_pg_database,
    free_port,
    remove_tree,
)

HERE = Path(__file__).resolve().parent
Obj = dict[str, Any]
NODES = 3
NODE_ENV = {
    "HOTFN_SPILL_TO": SPILL_LOCATION,
    "HOTFN_DRAIN_TIMEOUT": "5",
    "HOTFN_GENERIC_POOL_SIZE": "0",
    "HOTFN_MAX_CONTAINERS_PER_FN": "1",
    "HOTFN_MAX_QUEUE_PER_FN": "1",
    # Detached calls (the shared queue): one at a time per fn and node, and a short
    # claim lease, so a killed node's claimed calls pass to the others within seconds.
    "HOTFN_DETACHED_PER_FN": "1",
    "HOTFN_DETACHED_LEASE": "3",
    "HOTFN_DETACHED_BACKOFF": "0.05",
}


def free_run(count: int) -> int:
    """A base port with ``count`` free ports after it."""
    for base in range(31000, 60000, 97):
        ok = True
        for port in range(base, base + count + 1):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free run of ports")


@contextlib.contextmanager
def local_cluster(nodes: int, prefix: str, **options: bool) -> Iterator[LocalCluster]:
    """A ``hotfn.cluster.local`` cluster for ``nodes`` nodes on its own database and
    temp dir, taken down and removed after."""
    db_url = create_pg_database()
    root = Path(tempfile.mkdtemp(prefix=prefix))
    cluster = LocalCluster(root, db_url, free_run(nodes), **options)
    try:
        yield cluster
    finally:
        cluster.down()
        drop_pg_database(db_url)
        remove_tree(root)


def node_image() -> str:
    return build_image(
        "hotfn-test/cluster-fn:1",
        "FROM hotfn/python:latest\nCOPY node_fn.py /function/node_fn.py\n"
        'ENTRYPOINT ["fdk", "/function/node_fn.py", "handler"]\n',
        {"node_fn.py": HERE / "functions" / "node_fn.py"},
    )


def nginx_binary() -> str:
    out = subprocess.run(
        [str(ROOT / "scripts" / "ensure-nginx")], capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


@dataclass
class Cluster:
    """The nodes, nginx in front of them, and a client of nginx."""

    nodes: list[ServerProcess]
    instances: list[str]
    url: str
    http: httpx.Client
    app: Obj

    def node_of(self, resp: httpx.Response) -> int:
        """Which node answered (its index), from ``Hotfn-Node``."""
        return self.instances.index(resp.headers["hotfn-node"])

    def fn(self, **fields: Any) -> Obj:
        body = {"name": "f" + secrets.token_hex(4), "app_id": self.app["id"],
                "image": node_image(), **fields}  # fmt: skip
        resp = self.http.post("/v2/fns", json=body)
        assert resp.status_code == 200, resp.text
        out: Obj = resp.json()
        return out

    def call(self, fn: Obj, body: str, client: httpx.Client | None = None) -> httpx.Response:
        return (client or self.http).post(f"/invoke/{fn['id']}", content=body.encode())

    def fn_containers(self, fn: Obj) -> list[str]:
        """The fn's containers on the engine, whichever node made them."""
        return containers_with({"io.hotfn.fn": fn["id"]})

    def delete(self, fn: Obj) -> None:
        assert self.http.delete(f"/v2/fns/{fn['id']}").status_code in (200, 204)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    ensure_images()
    node_image()
    binary = nginx_binary()
    session = "cl" + secrets.token_hex(3)
    work = Path(tempfile.mkdtemp(prefix="hotfn-cluster-"))
    db_url = create_pg_database()
    instances = [f"{session}n{i}" for i in range(NODES)]
    nodes = []
    nginx = Nginx(work / "nginx", binary)
    proc: subprocess.Popen[bytes] | None = None
    try:
        for i, instance in enumerate(instances):
            nodes.append(ServerProcess(db_url, work / f"node{i}", **NODE_ENV,
                                       HOTFN_INSTANCE=instance).start(60))  # fmt: skip
        listen = f"127.0.0.1:{free_port()}"
        nodes_addr = tuple(f"127.0.0.1:{n.port}" for n in nodes)
        nginx.write(Routing(listen=listen, nodes=nodes_addr))
        proc = nginx.foreground()
        url = f"http://{listen}"
        wait_until_answers(url, 10)
        with httpx.Client(base_url=url, timeout=60) as http:
            app = http.post("/v2/apps", json={"name": "c" + secrets.token_hex(4)})
            assert app.status_code == 200, app.text
            yield Cluster(nodes, instances, url, http, app.json())
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        codes = [n.stop() for n in nodes]
        left = {i: containers_with({"io.hotfn.instance": i}) for i in instances}
        for instance in instances:
            remove_containers_with({"io.hotfn.instance": instance})
        drop_pg_database(db_url)
        shutil.rmtree(work, ignore_errors=True)
        for instance in instances:
            shutil.rmtree(Path("/tmp") / f"hotfn-iofs-{instance}", ignore_errors=True)
        assert all(c in (0, 130) for c in codes), f"a node exited badly: {codes}"
        assert not any(left.values()), f"nodes left containers behind: {left}"

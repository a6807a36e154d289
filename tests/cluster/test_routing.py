"""Routing by function through nginx: one home node per fn, spread over the nodes,
spill of overload to one more node only, management on any node."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.cluster.conftest import NODES, Cluster

pytestmark = [pytest.mark.docker, pytest.mark.postgres]


def test_200_calls_to_one_fn_land_on_one_node_with_one_hot_container(cluster: Cluster) -> None:
    fn = cluster.fn()
    nodes = set()
    for i in range(200):
        resp = cluster.call(fn, f"hello {i}")
        assert resp.status_code == 200, resp.text
        assert resp.text == f"hello {i}"
        nodes.add(cluster.node_of(resp))
    assert len(nodes) == 1
    assert len(cluster.fn_containers(fn)) == 1  # on the whole engine, all nodes
    cluster.delete(fn)


def test_30_fns_spread_over_all_nodes_and_stay_home(cluster: Cluster) -> None:
    fns = [cluster.fn() for _ in range(30)]

    def home(fn: dict[str, object]) -> tuple[int, int]:
        with httpx.Client(base_url=cluster.url, timeout=60) as client:
            first, second = cluster.call(fn, "a", client), cluster.call(fn, "b", client)
        assert first.status_code == second.status_code == 200, (first.text, second.text)
        return cluster.node_of(first), cluster.node_of(second)

    with ThreadPoolExecutor(4) as pool:
        homes = list(pool.map(home, fns))
    assert all(a == b for a, b in homes), homes
    counts = [sum(1 for a, _ in homes if a == n) for n in range(NODES)]
    assert all(counts), f"calls per node: {counts}"
    for fn in fns:
        cluster.delete(fn)


def test_an_overloaded_node_spills_to_one_more_node_only(cluster: Cluster) -> None:
    # Each node runs one container and queues one call per fn (conftest): the home
    # answers two calls, its 503s go to the fn's second home, and the rest get 503.
    fn = cluster.fn()
    assert cluster.call(fn, "warm").status_code == 200

    def call(_: int) -> httpx.Response:
        with httpx.Client(base_url=cluster.url, timeout=60) as client:
            return cluster.call(fn, "sleep:2", client)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(call, range(10)))
    ok = [r for r in answers if r.status_code == 200]
    busy = [r for r in answers if r.status_code == 503]
    assert len(ok) + len(busy) == len(answers), [r.text for r in answers]
    assert len({cluster.node_of(r) for r in ok}) == 2  # home and second home, not a third
    assert len({cluster.node_of(r) for r in answers}) == 2
    assert busy, "ten slow calls at once should overflow two nodes"
    assert all(r.headers.get("retry-after") for r in busy)
    assert not any("x-accel-redirect" in r.headers for r in answers)
    cluster.delete(fn)


def test_a_functions_own_503_is_not_spilled(cluster: Cluster) -> None:
    fn = cluster.fn()
    path = "/own" + secrets.token_hex(3)
    trig = {"name": "t" + secrets.token_hex(3), "app_id": cluster.app["id"],
            "fn_id": fn["id"], "type": "http", "source": path}  # fmt: skip
    assert cluster.http.post("/v2/triggers", json=trig).status_code == 200
    url = f"/t/{cluster.app['name']}{path}"
    home = cluster.node_of(cluster.http.post(url, content=b"hi"))
    for _ in range(3):
        resp = cluster.http.post(url, content=b"own503")
        # The function's answer itself, from its home: no X-Accel-Redirect was obeyed.
        assert (resp.status_code, resp.text) == (503, "own")
        assert cluster.node_of(resp) == home
        assert "x-accel-redirect" not in resp.headers
    cluster.delete(fn)


def test_management_requests_work_on_every_node(cluster: Cluster) -> None:
    seen = set()
    for i, node in enumerate(cluster.nodes):
        with httpx.Client(base_url=node.url, timeout=30) as direct:
            made = direct.post("/v2/apps", json={"name": f"m{i}" + secrets.token_hex(3)})
            assert made.status_code == 200, made.text
            app_id = made.json()["id"]
        for other in cluster.nodes:
            got = httpx.get(f"{other.url}/v2/apps/{app_id}", timeout=30)
            assert got.status_code == 200, got.text
        resp = cluster.http.get(f"/v2/apps/{app_id}")
        assert resp.status_code == 200
        seen.add(cluster.node_of(resp))
        assert cluster.http.delete(f"/v2/apps/{app_id}").status_code in (200, 204)
    assert len(seen) > 1  # nginx spreads management over the nodes

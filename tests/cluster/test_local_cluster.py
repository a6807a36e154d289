"""``scripts/cluster up N`` / ``down`` (hotfn.cluster.local): idempotent, N nodes
with their own instance labels behind one nginx port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from hotfn.cluster.local import LocalCluster
from tests.cluster.conftest import local_cluster as make_local_cluster

pytestmark = [pytest.mark.docker, pytest.mark.postgres]


@pytest.fixture
def local_cluster() -> Iterator[LocalCluster]:
    with make_local_cluster(3, "hotfn-local-cluster-") as cluster:
        yield cluster


def _nodes_seen(cluster: LocalCluster) -> set[str]:
    with httpx.Client(base_url=cluster.url, timeout=30) as http:
        return {http.get("/v2/apps").headers["hotfn-node"] for _ in range(12)}


def test_up_is_idempotent_and_down_stops_everything(local_cluster: LocalCluster) -> None:
    urls = local_cluster.up(2)
    assert urls == [local_cluster.node_url(1), local_cluster.node_url(2)]
    pids = local_cluster.running_nodes()
    assert len(pids) == 2
    instances = {(local_cluster.node_dir(i) / "instance").read_text().strip() for i in (1, 2)}
    assert len(instances) == 2  # each node its own label
    assert _nodes_seen(local_cluster) == instances  # management spread over both

    local_cluster.up(2)  # again: nothing restarted
    assert local_cluster.running_nodes() == pids
    local_cluster.up(1)  # fewer: the extra node stops, nginx follows
    assert set(local_cluster.running_nodes()) == {1}
    assert len(_nodes_seen(local_cluster)) == 1

    local_cluster.down()
    local_cluster.down()  # again: nothing to do
    assert local_cluster.running_nodes() == {}
    with pytest.raises(httpx.TransportError):
        httpx.get(local_cluster.url, timeout=2)

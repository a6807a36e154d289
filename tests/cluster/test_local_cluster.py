"""``scripts/cluster up N`` / ``down`` (hotfn.cluster.local): idempotent, N nodes
with their own instance labels behind one nginx port."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hotfn.cluster.local import LocalCluster
from tests.server_support import create_pg_database, drop_pg_database, remove_tree

pytestmark = [pytest.mark.docker, pytest.mark.postgres]


def _free_run(count: int) -> int:
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


@pytest.fixture
def local_cluster() -> Iterator[LocalCluster]:
    db_url = create_pg_database()
    root = Path(tempfile.mkdtemp(prefix="hotfn-local-cluster-"))
    cluster = LocalCluster(root, db_url, _free_run(3))
    try:
        yield cluster
    finally:
        cluster.down()
        drop_pg_database(db_url)
        remove_tree(root)


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

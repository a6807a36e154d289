"""A node listening on a unix socket (``hotfn start --uds``) behind nginx: the
cluster's nodes when nginx shares their machine (docs/scale-out.md)."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hotfn.cluster.local import LocalCluster, answers
from hotfn.cluster.nginx_conf import Routing, render
from tests.cluster.conftest import local_cluster, node_image
from tests.docker_support import containers_with, ensure_images


def test_unix_socket_nodes_render_as_unix_upstreams() -> None:
    nodes = ("unix:/run/hotfn/1.sock", "unix:/run/hotfn/2.sock")
    text = render(Routing(listen="127.0.0.1:8080", nodes=nodes))
    assert "    server unix:/run/hotfn/1.sock max_fails=1 fail_timeout=5s;" in text
    # $upstream_addr of a unix upstream is "unix:/path": the spill map matches it.
    assert r"~(^|\s)unix:/run/hotfn/2\.sock$ hotfn_spill_1;" in text


def test_answers_is_false_for_a_socket_nobody_listens_on(tmp_path: Path) -> None:
    path = tmp_path / "gone.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))  # the file exists, nobody accepts
    assert not answers(f"unix:{path}")


@pytest.fixture
def uds_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCluster]:
    ensure_images()
    node_image()
    # The nodes inherit this environment (hotfn.cluster.local.node_env).
    monkeypatch.setenv("HOTFN_NETWORK", "none")
    monkeypatch.setenv("HOTFN_IOFS_TMPFS", "0")
    monkeypatch.setenv("HOTFN_GENERIC_POOL_SIZE", "0")
    with local_cluster(1, "hotfn-uds-cluster-", unix_sockets=True) as cluster:
        yield cluster


@pytest.mark.docker
@pytest.mark.postgres
def test_a_node_on_a_unix_socket_answers_a_call_through_nginx(uds_cluster: LocalCluster) -> None:
    (url,) = uds_cluster.up(1)
    sock = Path(url.removeprefix("unix:"))
    assert sock.is_socket()
    assert f"server unix:{sock} " in (uds_cluster.root / "nginx" / "nginx.conf").read_text()
    with socket.socket() as s:  # the node's port stays closed: the socket replaces it
        assert s.connect_ex(("127.0.0.1", uds_cluster.port + 1)) != 0
    instance = (uds_cluster.node_dir(1) / "instance").read_text().strip()
    with httpx.Client(base_url=uds_cluster.url, timeout=60) as http:
        app = http.post("/v2/apps", json={"name": "u" + secrets.token_hex(4)})
        assert app.status_code == 200, app.text
        fn = http.post("/v2/fns", json={"name": "echo", "app_id": app.json()["id"],
                                        "image": node_image()})  # fmt: skip
        assert fn.status_code == 200, fn.text
        fn_id = fn.json()["id"]
        resp = http.post(f"/invoke/{fn_id}", content=b"over a unix socket")
        assert resp.status_code == 200, resp.text
        assert resp.text == "over a unix socket"
        assert resp.headers["hotfn-node"] == instance
        assert containers_with({"io.hotfn.instance": instance})
    uds_cluster.down()
    assert not containers_with({"io.hotfn.instance": instance})  # SIGTERM drained it


@pytest.mark.docker
@pytest.mark.postgres
def test_up_with_the_other_transport_restarts_the_nodes_on_it(uds_cluster: LocalCluster) -> None:
    uds_cluster.up(1)
    before = uds_cluster.running_nodes()
    uds_cluster.unix_sockets = False  # `up 1 --no-uds` after `up 1 --uds`
    (url,) = uds_cluster.up(1)
    assert url == f"http://127.0.0.1:{uds_cluster.port + 1}" and answers(url)
    assert uds_cluster.running_nodes().keys() == before.keys() != {}
    assert uds_cluster.running_nodes() != before  # restarted, now on its port
    conf = (uds_cluster.root / "nginx" / "nginx.conf").read_text()
    assert "server unix:" not in conf and f"server 127.0.0.1:{uds_cluster.port + 1} " in conf
    assert answers(uds_cluster.url)

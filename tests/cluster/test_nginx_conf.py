"""The rendered nginx configuration: what nginx itself accepts, and the routing rules
that the integration tests cannot tell apart from luck."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hotfn.cluster.local import Nginx
from hotfn.cluster.nginx_conf import Routing, render
from tests.cluster.conftest import nginx_binary

NODES = ("10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080")


def _block(text: str, name: str) -> str:
    match = re.search(r"upstream " + name + r" \{(.*?)\n\}", text, re.S)
    assert match, name
    return match.group(1)


def test_nginx_accepts_the_rendered_config(tmp_path: Path) -> None:
    nginx = Nginx(tmp_path / "nginx", nginx_binary())
    nginx.write(Routing(listen="127.0.0.1:1", nodes=NODES))  # runs `nginx -t`
    assert "hash $hotfn_key consistent;" in nginx.conf.read_text()


def test_each_spill_ring_leaves_out_exactly_its_node() -> None:
    text = render(Routing(listen="127.0.0.1:8080", nodes=NODES))
    for i, node in enumerate(NODES):
        ring = _block(text, f"hotfn_spill_{i}")
        assert node not in ring
        assert all(other in ring for other in NODES if other != node)
        assert re.search(rf"{re.escape(re.escape(node))}\$ hotfn_spill_{i};", text)


def test_calls_are_retried_only_by_nginx_rules_that_never_resend_a_post() -> None:
    text = render(Routing(listen="127.0.0.1:8080", nodes=NODES, tries=2))
    # non_idempotent would let nginx resend a POST that reached a node.
    assert "non_idempotent" not in text
    assert "http_503" not in text  # spilling is the node's own decision (X-Accel-Redirect)
    assert "proxy_next_upstream_tries 2;" in text
    once = text.split("location = /@hotfn_trigger_once", 1)[1].split("}", 1)[0]
    assert "proxy_next_upstream off;" in once
    spill = text.split("location @hotfn_spill", 1)[1].split("}", 1)[0]
    assert "proxy_ignore_headers X-Accel-Redirect;" in spill  # one spill, never two


@pytest.mark.parametrize("nodes", [(), ("a:1", "a:1")])
def test_a_cluster_needs_distinct_nodes(nodes: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        render(Routing(listen="127.0.0.1:8080", nodes=nodes))


def test_the_cli_prints_the_config() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hotfn.cluster", "nginx", "--listen", "0.0.0.0:80", *NODES],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout == render(Routing(listen="0.0.0.0:80", nodes=NODES))

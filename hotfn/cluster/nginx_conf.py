"""The nginx configuration of a hotfn cluster, rendered from ``nginx.conf.template``.

The template is the http-level part (upstreams, maps, one server block) that an
operator includes into their own nginx; :func:`main_config` wraps it into a whole
``nginx.conf`` for nginx run by ``hotfn.cluster.local`` (its own prefix, pid and
temp dirs, so it needs no system nginx setup).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
SPILL_LOCATION = "@hotfn_spill"  # HOTFN_SPILL_TO of every node behind this config


@dataclass(frozen=True)
class Routing:
    """What the template leaves open."""

    listen: str  # nginx's listen address, "127.0.0.1:8080"
    nodes: tuple[str, ...]  # host:port of every hotfn server (literal addresses)
    max_fails: int = 1
    fail_timeout: str = "5s"
    connect_timeout: str = "1s"
    tries: int = 3  # nodes one call may be offered to after connect errors
    max_body: str = "7m"  # above the servers' own 6 MiB limit: they answer 413


def _server_lines(nodes: tuple[str, ...], routing: Routing) -> str:
    return "\n".join(
        f"    server {node} max_fails={routing.max_fails} fail_timeout={routing.fail_timeout};"
        for node in nodes
    )


def spill_upstream(index: int) -> str:
    """The name of the ring without node ``index``."""
    return f"hotfn_spill_{index}"


def render(routing: Routing) -> str:
    """The http-level configuration for ``routing``."""
    if not routing.nodes:
        raise ValueError("a cluster needs at least one node")
    if len(set(routing.nodes)) != len(routing.nodes):
        raise ValueError(f"nodes listed twice: {routing.nodes}")
    spills, spill_map = [], []
    for i, node in enumerate(routing.nodes):
        others = tuple(n for n in routing.nodes if n != node) or routing.nodes
        spills.append(
            f"upstream {spill_upstream(i)} {{\n    hash $hotfn_key consistent;\n"
            f"{_server_lines(others, routing)}\n    keepalive 16;\n}}"
        )
        # $upstream_addr lists every node tried ("a, b"); the last one said 503.
        spill_map.append(f"    ~(^|\\s){re.escape(node)}$ {spill_upstream(i)};")
    fields = {
        "LISTEN": routing.listen,
        "SERVERS": _server_lines(routing.nodes, routing),
        "SPILL_UPSTREAMS": "\n".join(spills),
        "SPILL_MAP": "\n".join(spill_map),
        "MAX_FAILS": str(routing.max_fails),
        "FAIL_TIMEOUT": routing.fail_timeout,
        "CONNECT_TIMEOUT": routing.connect_timeout,
        "TRIES": str(routing.tries),
        "MAX_BODY": routing.max_body,
    }
    text = TEMPLATE.read_text()
    for name, value in fields.items():
        text = text.replace(f"@@{name}@@", value)
    left = re.findall(r"@@[A-Z_]+@@", text)
    if left:
        raise ValueError(f"template fields not filled in: {left}")
    return text


def main_config(http_part: str, prefix: Path, workers: int | str = 1) -> str:
    """A whole nginx.conf around ``http_part`` whose files all live under ``prefix``;
    ``workers``: a number or ``"auto"`` (one per core)."""
    return f"""# written by hotfn.cluster: nginx for a local hotfn cluster
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{http_part}
}}
"""

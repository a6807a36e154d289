"""``python -m hotfn.cluster up N | down | nginx`` (``scripts/cluster`` calls it)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hotfn.cluster.local import LocalCluster
from hotfn.cluster.nginx_conf import Routing, render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hotfn.cluster")
    sub = parser.add_subparsers(dest="cmd", required=True)
    state = Path(os.environ.get("HOTFN_CLUSTER_DIR", "/var/tmp/hotfn-cluster"))
    port = int(os.environ.get("HOTFN_CLUSTER_PORT", "8080"))
    up = sub.add_parser("up", help="N servers behind one nginx port (idempotent)")
    up.add_argument("count", type=int)
    up.add_argument("--db", required=True, help="PostgreSQL URL the servers share")
    up.add_argument("--uds", action=argparse.BooleanOptionalAction, default=False,
                    help="nginx reaches the nodes on unix sockets, not ports")  # fmt: skip
    sub.add_parser("down", help="stop nginx and every server (idempotent)")
    conf = sub.add_parser("nginx", help="print the nginx config for these nodes")
    conf.add_argument("--listen", default="127.0.0.1:8080")
    conf.add_argument("nodes", nargs="+", help="host:port or unix:PATH of each server")
    args = parser.parse_args(argv)
    if args.cmd == "nginx":
        sys.stdout.write(render(Routing(listen=args.listen, nodes=tuple(args.nodes))))
        return 0
    cluster = LocalCluster(state, os.environ.get("HOTFN_DB_URL", ""), port)
    if args.cmd == "up":
        cluster.db_url = args.db
        cluster.unix_sockets = args.uds
        for url in cluster.up(args.count):
            print(f"node   {url}", file=sys.stderr)
        print(cluster.url)
    else:
        cluster.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())

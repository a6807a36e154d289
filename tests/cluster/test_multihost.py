"""Two test hosts in network namespaces, each with its own Docker Engine and data
root, pulling one image from one registry, their hotfn servers behind nginx on one
PostgreSQL (tests/cluster/hosts.py)."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hotfn.cluster.local import Nginx, wait_until_answers
from hotfn.cluster.nginx_conf import Routing
from tests.cluster.conftest import nginx_binary, node_image
from tests.cluster.hosts import NetnsHosts
from tests.docker_support import containers_with, ensure_images
from tests.registry_support import local_registry
from tests.server_support import ROOT, create_pg_database, drop_pg_database, free_port

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]
HOSTS = 2
REGISTRY_PORT = 5000
PG_PORT = 5432


@pytest.fixture(scope="module")
def layout() -> Iterator[tuple[NetnsHosts, str, str]]:
    """The hosts, nginx's URL in front of them, and the image's reference as every
    host pulls it."""
    ensure_images()
    subprocess.run([str(ROOT / "scripts" / "ensure-registry")], check=True)
    nginx = nginx_binary()
    image = node_image()
    db_url = create_pg_database()
    hosts = NetnsHosts()
    front: subprocess.Popen[bytes] | None = None
    try:
        with local_registry() as registry:
            hosts.create(HOSTS)
            pg = db_url.split("@", 1)[1].split("/", 1)[0]
            hosts.forward(nginx, {REGISTRY_PORT: registry.host, PG_PORT: pg})
            shared_registry = f"{hosts.gateway}:{REGISTRY_PORT}"
            name = f"hotfn-test/cluster-fn:{secrets.token_hex(3)}"
            registry.push(image, name)
            host_db = db_url.replace(pg, f"{hosts.gateway}:{PG_PORT}")
            for host in hosts.hosts:
                host.start_engine(shared_registry)
                host.start_server(host_db, f"mh{hosts.tag}h{host.index}",
                                  HOTFN_PULL_FROM=shared_registry)  # fmt: skip
            ngx = Nginx(Path(hosts.work) / "nginx", nginx)
            listen = f"127.0.0.1:{free_port()}"
            ngx.write(Routing(listen=listen, nodes=tuple(f"{h.ip}:8080" for h in hosts.hosts)))
            front = ngx.foreground()
            wait_until_answers(f"http://{listen}", 10)
            yield hosts, f"http://{listen}", f"{shared_registry}/{name}"
    finally:
        if front is not None:
            front.terminate()
            front.wait(10)
        hosts.destroy()
        drop_pg_database(db_url)


def test_fns_run_on_their_home_hosts_engine_pulled_from_the_one_registry(
    layout: tuple[NetnsHosts, str, str],
) -> None:
    hosts, url, image = layout
    instances = [h.instance for h in hosts.hosts]
    with httpx.Client(base_url=url, timeout=120) as http:
        app = http.post("/v2/apps", json={"name": "mh" + secrets.token_hex(3)}).json()
        homes: dict[str, int] = {}
        for i in range(8):
            fn = http.post("/v2/fns", json={"name": f"f{i}", "app_id": app["id"],
                                            "image": image}).json()  # fmt: skip
            first = http.post(f"/invoke/{fn['id']}", content=b"hi")
            again = http.post(f"/invoke/{fn['id']}", content=b"again")
            assert (first.status_code, first.text) == (200, "hi"), first.text
            assert first.headers["hotfn-node"] == again.headers["hotfn-node"]
            homes[fn["id"]] = instances.index(first.headers["hotfn-node"])
    assert set(homes.values()) == set(range(HOSTS)), homes  # both hosts have fns
    for index, host in enumerate(hosts.hosts):
        # Each host pulled the image into its own data root...
        assert host.docker("image", "inspect", "-f", "{{.Id}}", image).strip()
        assert (host.root / "docker" / "image").is_dir()
        # ...and runs exactly the containers of the fns at home there.
        running = host.docker("ps", "-q", "--filter", f"label=io.hotfn.instance={host.instance}",
                              "--format", '{{.Label "io.hotfn.fn"}}').split()  # fmt: skip
        assert sorted(running) == sorted(f for f, h in homes.items() if h == index)
    # The machine's own engine runs none of them.
    assert not any(containers_with({"io.hotfn.fn": f}) for f in homes)

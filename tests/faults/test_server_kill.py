"""hotfn killed with SIGKILL while its containers are hot: the next start (same data
dir, same database) removes them and serves; nothing acknowledged is lost."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.conftest import BACKENDS
from tests.faults.support import DeployFactory, container_exists, instance_containers
from tests.server_support import ServerProcess

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("db", BACKENDS)
def test_sigkilled_server_restarts_clean_and_keeps_acknowledged_data(
    deploy: DeployFactory,
    make_db_url: Callable[[str], str],
    make_server: Callable[..., ServerProcess],
    db: str,
) -> None:
    db_url = make_db_url(db)
    d = deploy(db_url)
    app = d.client.put(f"/v2/apps/{d.app['id']}", json={"config": {"K": "v"}}).json()
    fn = d.fn(config={"F": "1"})
    trig = d.client.post("/v2/triggers", json={"name": "t", "app_id": app["id"],
                         "fn_id": fn["id"], "type": "http", "source": "/t"}).json()  # fmt: skip
    calls = [d.call(fn, "id") for _ in range(3)]
    assert all(c.status_code == 200 for c in calls), [c.text for c in calls]
    call_ids = [c.headers["fn-call-id"] for c in calls]
    time.sleep(1.5)  # call records are written in batches every 0.5 s
    hot = instance_containers(d.instance)
    assert hot, "no hot container before the kill"

    d.server.kill()  # SIGKILL: no shutdown, containers stay
    assert all(container_exists(c) for c in hot), "containers went with the server"

    again = make_server(db_url, d.server.data_dir, HOTFN_INSTANCE=d.instance,
                        HOTFN_DRAIN_TIMEOUT="5")  # fmt: skip
    d.server = again  # the deploy fixture stops this one and checks for leftovers
    d.client.base_url = again.url
    # The new server removed the old one's containers before it answered.
    assert not [c for c in hot if container_exists(c)]

    assert d.client.get(f"/v2/apps/{app['id']}").json() == app
    assert d.client.get(f"/v2/fns/{fn['id']}").json()["config"] == {"F": "1"}
    got = d.client.get(f"/v2/triggers/{trig['id']}").json()
    assert (got["fn_id"], got["source"]) == (fn["id"], "/t")
    for call_id in call_ids:
        assert d.record(fn, call_id)["status"] == "success"
    resp = d.call(fn, "id")
    assert resp.status_code == 200, resp.text
    assert d.client.post(f"/t/{app['name']}/t", content=b"via trigger").text == "via trigger"

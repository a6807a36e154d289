"""Data survives a restart, and a kill -9 in the middle of a burst of writes loses no
write the server acknowledged (SQLite file and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from tests.server_support import ServerProcess


def test_data_survives_restart(
    backend: str,
    make_db_url: Callable[[str], str],
    make_server: Callable[..., ServerProcess],
) -> None:
    url = make_db_url(backend)
    first = make_server(url)
    with httpx.Client(base_url=first.url) as api:
        app = api.post("/v2/apps", json={"name": "keep", "config": {"K": "v"}}).json()
        fn = api.post(
            "/v2/fns", json={"name": "f", "app_id": app["id"], "image": "i", "memory": 64}
        ).json()
    # Ctrl-C: a clean shutdown, exit status 130 as for any program stopped by SIGINT.
    assert first.stop() in (0, 130), first.log()
    assert "Application shutdown complete" in first.log()
    second = make_server(url, data_dir=first.data_dir)
    with httpx.Client(base_url=second.url) as api:
        assert api.get(f"/v2/apps/{app['id']}").json()["config"] == {"K": "v"}
        got = api.get(f"/v2/fns/{fn['id']}").json()
        assert got["memory"] == 64 and got["created_at"] == fn["created_at"]


def test_kill_9_loses_no_acknowledged_write(
    backend: str, make_db_url: Callable[[str], str], make_server: Callable[..., ServerProcess]
) -> None:
    url = make_db_url(backend)
    server = make_server(url)
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        with httpx.Client(base_url=server.url, timeout=5) as api:
            i = 0
            while not stop.is_set():
                name = f"burst-{n}-{i}"
                try:
                    r = api.post("/v2/apps", json={"name": name})
                except httpx.TransportError:
                    return  # the server died mid-request: not acknowledged
                if r.status_code == 200:
                    acknowledged.append(r.json()["id"])
                i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    # Enough acknowledged writes before the kill, however loaded the machine is.
    give_up = time.monotonic() + 30
    while len(acknowledged) < 40 and time.monotonic() < give_up:
        time.sleep(0.05)
    server.kill()  # SIGKILL while writes are in flight
    stop.set()
    for t in threads:
        t.join()
    assert len(acknowledged) > 20

    again = make_server(url, data_dir=server.data_dir)
    with httpx.Client(base_url=again.url) as api:
        for app_id in acknowledged:
            assert api.get(f"/v2/apps/{app_id}").status_code == 200, app_id

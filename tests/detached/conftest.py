"""Real ``hotfn start`` servers and the ledger function for the detached-call tests.

Servers get their own instance label, a fast retry backoff and fixed keep-alive (the
ledger is read from the containers' own logs, so they must stay until it is read).
At the end every server is stopped and none may leave a container behind.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.docker_support import DOCKER, build_image, containers_with, remove_containers_with
from tests.server_support import ServerProcess
from tests.waiting import wait_until

HERE = Path(__file__).resolve().parent
Obj = dict[str, Any]
DETACHED = {"Fn-Invoke-Type": "detached"}


def ledger_image() -> str:
    return build_image(
        "hotfn-test/ledger:1",
        "FROM hotfn/python:latest\nCOPY ledger.py /function/ledger.py\n"
        'ENTRYPOINT ["fdk", "/function/ledger.py", "handler"]\n',
        {"ledger.py": HERE / "functions" / "ledger.py"},
    )


@dataclass(frozen=True)
class Entry:
    """One ledger line: what happened to which call, on which server."""

    what: str  # start | end | dead
    call_id: str
    rest: str  # attempt and time (start, end), the body (dead)
    instance: str

    @property
    def at(self) -> float:
        return float(self.rest.split()[1])


@dataclass
class Server:
    proc: ServerProcess
    instance: str
    http: httpx.Client

    def deploy(self, app_name: str | None = None, **annotations: Any) -> Obj:
        """A fn of the ledger image (in a new app unless ``app_name`` names one)."""
        if app_name is None:
            app_name = "q" + secrets.token_hex(4)
            self.ok(self.http.post("/v2/apps", json={"name": app_name}))
        app = self.ok(self.http.get("/v2/apps", params={"name": app_name}))["items"][0]
        body = {"name": "f" + secrets.token_hex(3), "app_id": app["id"], "image": ledger_image(),
                "idle_timeout": 600, "annotations": annotations}  # fmt: skip
        return self.ok(self.http.post("/v2/fns", json=body))

    @staticmethod
    def ok(resp: httpx.Response) -> Obj:
        assert resp.status_code == 200, resp.text
        out: Obj = resp.json()
        return out

    def detached(self, fn: Obj, body: bytes) -> str:
        resp = self.http.post(f"/invoke/{fn['id']}", content=body, headers=DETACHED)
        assert resp.status_code == 202, resp.text
        call_id: str = resp.headers["fn-call-id"]
        return call_id

    def record(self, fn: Obj, call_id: str) -> Obj:
        return self.ok(self.http.get(f"/v2/fns/{fn['id']}/calls/{call_id}"))

    def calls(self, fn: Obj, status: str | None = None) -> list[Obj]:
        """Every call record of ``fn`` (all pages)."""
        out: list[Obj] = []
        params: dict[str, Any] = {"per_page": 100}
        if status:
            params["status"] = status
        while True:
            page = self.ok(self.http.get(f"/v2/fns/{fn['id']}/calls", params=params))
            out += page["items"]
            if not page.get("next_cursor"):
                return out
            params["cursor"] = page["next_cursor"]

    def wait_ended(self, fn: Obj, call_ids: list[str], within_s: float = 60) -> dict[str, Obj]:
        """Records of ``call_ids`` once all have ended (success or failed)."""
        want = set(call_ids)
        got: dict[str, Obj] = {}
        last = [0.0]

        def ended() -> bool:
            # Listing every page is not cheap: look twice a second, not every poll.
            if time.monotonic() - last[0] < 0.5:
                return False
            last[0] = time.monotonic()
            got.clear()
            got.update({c["id"]: c for c in self.calls(fn) if c["id"] in want})
            return len(got) == len(want) and all(
                c["status"] in ("success", "failed") for c in got.values()
            )

        wait_until(ended, within_s=within_s, what=f"{len(want)} detached calls end")
        return got

    def ledger(self) -> list[Entry]:
        """Ledger lines from the logs of this server's containers."""
        entries = []
        for cid in containers_with({"io.hotfn.instance": self.instance}):
            proc = subprocess.run(
                [DOCKER, "logs", cid], capture_output=True, text=True, check=False
            )
            for line in (proc.stdout + proc.stderr).splitlines():
                parts = line.split(" ", 3)
                if len(parts) == 4 and parts[0] == "LEDGER":
                    entries.append(Entry(parts[1], parts[2], parts[3], self.instance))
        return entries


ServerFactory = Callable[..., Server]


@pytest.fixture
def queue_server(
    make_server: Callable[..., ServerProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerFactory]:
    """``queue_server(db_url, data_dir=None, instance=None, **env)``; a server started
    again on the same data dir and instance takes its predecessor's place."""
    made: list[Server] = []

    def make(
        db_url: str, data_dir: Path | None = None, instance: str | None = None, **env: str
    ) -> Server:
        ledger_image()  # build before the server starts
        instance = instance or "dq" + secrets.token_hex(4)
        env = {"HOTFN_INSTANCE": instance, "HOTFN_DRAIN_TIMEOUT": "5",
               "HOTFN_KEEPALIVE": "fixed", "HOTFN_DETACHED_BACKOFF": "0.05", **env}  # fmt: skip
        proc = make_server(db_url, data_dir or tmp_path_factory.mktemp("dq-server"), **env)
        server = Server(proc, instance, httpx.Client(base_url=proc.url, timeout=60))
        made.append(server)
        return server

    yield make
    left: dict[str, list[str]] = {}
    for server in made:
        server.http.close()
        server.proc.stop()
    for instance in {s.instance for s in made}:
        if ids := containers_with({"io.hotfn.instance": instance}):
            left[instance] = ids
            remove_containers_with({"io.hotfn.instance": instance})
    assert not left, f"containers left behind: {left}"

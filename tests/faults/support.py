"""What the fault and security tests share: the misbehaving function's image and
real ``hotfn start`` servers whose containers are found by their instance label.

Every server gets its own ``HOTFN_INSTANCE``; at the end of each test its server is
stopped and no container of that instance may be left (leftovers are removed and
fail the test).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.docker_support import build_image, docker, remove_containers_with
from tests.server_support import ServerProcess

HERE = Path(__file__).resolve().parent
Obj = dict[str, Any]


def faulty_image() -> str:
    """A hot function on hotfn/python (the FDK image) that misbehaves on request."""
    return build_image(
        "hotfn-test/faulty:1",
        "FROM hotfn/python:latest\nCOPY faulty.py /function/faulty.py\n"
        'ENTRYPOINT ["fdk", "/function/faulty.py", "handler"]\n',
        {"faulty.py": HERE / "functions" / "faulty.py"},
    )


def instance_containers(instance: str) -> list[str]:
    return docker(
        "ps", "-aq", "--no-trunc", "--filter", f"label=io.hotfn.instance={instance}"
    ).split()


def container_exists(container_id: str) -> bool:
    return bool(docker("ps", "-aq", "--filter", f"id={container_id}").strip())


def wait_until(check: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


@dataclass
class Deployed:
    """A server under test, its API client and its instance label."""

    server: ServerProcess
    client: httpx.Client
    instance: str
    app: Obj = field(default_factory=dict)

    def fn(self, name: str | None = None, **fields: Any) -> Obj:
        body = {"name": name or "f" + secrets.token_hex(3), "app_id": self.app["id"],
                "image": faulty_image(), **fields}  # fmt: skip
        resp = self.client.post("/v2/fns", json=body)
        assert resp.status_code == 200, resp.text
        out: Obj = resp.json()
        return out

    def call(self, fn: Obj, body: bytes | str, timeout: float = 60) -> httpx.Response:
        data = body.encode() if isinstance(body, str) else body
        return self.client.post(f"/invoke/{fn['id']}", content=data, timeout=timeout)

    def call_in_thread(self, fn: Obj, body: str) -> tuple[threading.Thread, list[httpx.Response]]:
        """Start a call on its own client and thread; the list gets its answer."""
        answer: list[httpx.Response] = []

        def run() -> None:
            with httpx.Client(base_url=self.server.url, timeout=60) as client:
                answer.append(client.post(f"/invoke/{fn['id']}", content=body.encode()))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread, answer

    def running_calls(self, fn: Obj) -> list[Obj]:
        items: list[Obj] = self.client.get(f"/v2/fns/{fn['id']}/calls").json()["items"]
        return [c for c in items if c["status"] == "running"]

    def record(self, fn: Obj, call_id: str) -> Obj:
        resp = self.client.get(f"/v2/fns/{fn['id']}/calls/{call_id}")
        assert resp.status_code == 200, resp.text
        out: Obj = resp.json()
        return out

    def log(self, fn: Obj, call_id: str, timeout: float = 5) -> str:
        text = ""

        def ready() -> bool:
            nonlocal text
            resp = self.client.get(
                f"/v2/fns/{fn['id']}/calls/{call_id}/log", headers={"Accept": "text/plain"}
            )
            text = resp.text if resp.status_code == 200 else ""
            return bool(text)

        wait_until(ready, timeout)
        return text


DeployFactory = Callable[..., Deployed]


@pytest.fixture
def deploy(
    make_server: Callable[..., ServerProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeployFactory]:
    """Start servers (SQLite unless ``db_url``) with one app each; at the end stop
    them and check none left a container."""
    made: list[Deployed] = []

    def make(db_url: str | None = None, **env: str) -> Deployed:
        faulty_image()  # build before the server starts (can take a while)
        instance = env.setdefault("HOTFN_INSTANCE", "flt" + secrets.token_hex(4))
        # A test that fails mid-call must not make the stop wait the default 30 s.
        env.setdefault("HOTFN_DRAIN_TIMEOUT", "5")
        server = make_server(db_url, tmp_path_factory.mktemp("fault-server"), **env)
        client = httpx.Client(base_url=server.url, timeout=60)
        deployed = Deployed(server, client, instance)
        made.append(deployed)
        resp = client.post("/v2/apps", json={"name": "a" + secrets.token_hex(3)})
        assert resp.status_code == 200, resp.text
        deployed.app = resp.json()
        return deployed

    yield make
    left: dict[str, list[str]] = {}
    for d in made:
        d.client.close()
        d.server.stop()
        if ids := instance_containers(d.instance):
            left[d.instance] = ids
            remove_containers_with({"io.hotfn.instance": d.instance})
    assert not left, f"containers left behind: {left}"


class Background:
    """Calls a well-behaved fn in a loop on a thread, recording every outcome, to
    show that a misbehaving neighbour does not disturb it."""

    def __init__(self, deployed: Deployed, fn: Obj) -> None:
        self.deployed = deployed
        self.fn = fn
        self.outcomes: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.deployed.server.url, timeout=60) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                body = f"ping-{n}"
                try:
                    resp = client.post(f"/invoke/{self.fn['id']}", content=body)
                    ok = resp.status_code == 200 and resp.text == body
                    self.outcomes.append("ok" if ok else f"{resp.status_code}: {resp.text[:200]}")
                except httpx.HTTPError as exc:
                    self.outcomes.append(f"error: {exc!r}")
                time.sleep(0.02)

    def __enter__(self) -> Background:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def check(self, at_least: int = 5) -> None:
        bad = [o for o in self.outcomes if o != "ok"]
        assert not bad, f"the neighbour's calls were disturbed: {bad[:5]}"
        assert len(self.outcomes) >= at_least, self.outcomes

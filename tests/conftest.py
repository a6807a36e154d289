"""Fixtures shared by the whole suite: real hotfn servers on SQLite and PostgreSQL.

``api`` is an HTTP client for a server that lives for the whole session, once per
backend (tests that use it run twice: ``[sqlite]`` and ``[postgres]``); tests make
unique names with ``uniq``. ``make_server`` starts extra servers a test controls
(restarts, kill -9) on a database of the same backend.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.docker_support import containers_with, remove_containers_with
from tests.server_support import (
    ServerProcess,
    create_pg_database,
    drop_pg_database,
)

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture(scope="session")
def make_db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """A fresh database for ``backend``: a new SQLite file or PostgreSQL database."""
    made: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'hotfn.db'}"
        url = create_pg_database()
        made.append(url)
        return url

    yield make
    for url in made:
        drop_pg_database(url)


@pytest.fixture(scope="session")
def make_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ServerProcess]]:
    """Start a ``hotfn start`` subprocess; every one is stopped at the end."""
    servers: list[ServerProcess] = []

    def make(db_url: str | None, data_dir: Path | None = None, **env: str) -> ServerProcess:
        server = ServerProcess(db_url, data_dir or tmp_path_factory.mktemp("server"), **env)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()
    # A stopped server removes its containers; any left is a leak to report. (Servers
    # restarted on one data dir share an instance: check once all are stopped.)
    leftovers: dict[str, list[str]] = {}
    instances = {s.data_dir / "instance" for s in servers}
    for instance_file in sorted(p for p in instances if p.exists()):
        labels = {"io.hotfn.instance": instance_file.read_text().strip()}
        try:
            left = containers_with(labels)
        except (OSError, RuntimeError):  # no engine here: nothing can be left
            continue
        if left:
            leftovers[str(instance_file)] = left
            remove_containers_with(labels)
    assert not leftovers, f"servers left containers behind: {leftovers}"


@pytest.fixture(scope="session")
def api_server(
    backend: str, make_db_url: Callable[[str], str], make_server: Callable[..., ServerProcess]
) -> ServerProcess:
    return make_server(make_db_url(backend))


@pytest.fixture
def api(api_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def uniq() -> Callable[[str], str]:
    def make(prefix: str = "x") -> str:
        return f"{prefix}-{secrets.token_hex(4)}"

    return make

"""Running real hotfn servers in tests.

``ServerProcess`` starts ``hotfn start`` as a subprocess on a free port with its own
data dir, waits until it answers, and stops it (SIGINT, then SIGKILL if it hangs).
``pg_database`` makes a fresh PostgreSQL database for one server (dropped afterwards)
on the test cluster of ``scripts/ensure-postgres``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from hotfn.store.db import Database

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    def __init__(self, db_url: str | None, data_dir: Path, **env: str) -> None:
        self.db_url = db_url
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"server-{self.port}.log"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        args = [sys.executable, "-m", "hotfn.cli.main", "start", "--port", str(self.port)]
        if self.db_url:
            args += ["--db", self.db_url]
        env = {**os.environ, "HOTFN_DATA_DIR": str(self.data_dir), **self.env}
        env.setdefault("HOTFN_NETWORK", "none")
        # No tmpfs on socket dirs unless a test asks: a server a test kills would
        # leave its mounts in pytest's temporary dirs, which pytest cannot delete.
        env.setdefault("HOTFN_IOFS_TMPFS", "0")
        # Pulls stay on this machine: a test's missing image is never looked for on
        # Docker Hub (tests that pull run their own registry on loopback).
        env.setdefault("HOTFN_PULL_FROM", "127.0.0.1:*,localhost:*")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=log, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{self.log()}")
            try:
                if httpx.get(self.url + "/", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> int | None:
        """Ctrl-C, as a user would; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def pg_admin_url() -> str:
    """The test cluster's URL (starting it if needed, as CI does)."""
    url = os.environ.get("HOTFN_TEST_PG_URL")
    if url:
        return url
    out = subprocess.run(
        [str(ROOT / "scripts" / "ensure-postgres")], check=True, capture_output=True, text=True
    )
    url = out.stdout.strip().splitlines()[-1]
    os.environ["HOTFN_TEST_PG_URL"] = url
    return url


def _pg_exec(admin_url: str, sql: str) -> None:
    """Run one statement; in a thread of its own so it works inside event loops too."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def _superuser_url() -> str:
    # The test cluster trusts local connections; only the superuser may create databases.
    parsed = urlsplit(pg_admin_url())
    return f"postgresql://postgres@{parsed.hostname}:{parsed.port}/postgres"


def create_pg_database() -> str:
    """A new, empty database owned by the test user; its URL."""
    name = "hotfn_t_" + secrets.token_hex(6)
    user = urlsplit(pg_admin_url()).username
    _pg_exec(_superuser_url(), f'CREATE DATABASE "{name}" OWNER "{user}"')
    return pg_admin_url().rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    _pg_exec(_superuser_url(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


@asynccontextmanager
async def in_process_client(data_dir: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The whole server in this process on the fake driver (image ``fake/echo``
    echoes), with an HTTP client to it; the driver must be empty at the end."""
    from hotfn.config import Settings
    from hotfn.drivers.fake import FakeDriver, FakeImage
    from hotfn.server import build_app

    config = Settings(data_dir=data_dir, instance="t" + secrets.token_hex(3), **settings)
    driver = FakeDriver({"fake/echo": FakeImage()})
    app = build_app(config, driver=driver)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c
    assert not driver.running()


async def sqlite_database(path: Path) -> Database:
    """A migrated SQLite database at ``path`` (close it with ``await db.close()``)."""
    db = Database(f"sqlite:///{path}")
    await db.migrate()
    return db

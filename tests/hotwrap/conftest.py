"""Fixtures: the hotwrap binary run as a real process on a real unix socket."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from hotfn import __version__
from hotfn.fdk.testing import FunctionProcess

StartHotwrap = Callable[..., FunctionProcess]
ROOT = Path(__file__).resolve().parents[2]
HOTWRAP_VERSION = f"hotfn-hotwrap/{__version__}"


@functools.cache
def hotwrap_binary() -> str:
    """build/hotwrap/amd64/hotwrap, (re)built by scripts/build-hotwrap first (a
    no-op when the Go sources did not change), so tests never run a stale one."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "build-hotwrap")],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/build-hotwrap failed:\n{done.stdout}{done.stderr}")
    return str(ROOT / "build" / "hotwrap" / "amd64" / "hotwrap")


@pytest.fixture
def start_hotwrap() -> Iterator[StartHotwrap]:
    """Factory: ``start_hotwrap(["cat"], options=["--buffer", "0"], env={...})``;
    every hotwrap started is stopped at teardown."""
    started: list[FunctionProcess] = []

    def start(
        command: Sequence[str],
        *,
        options: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> FunctionProcess:
        process = FunctionProcess([hotwrap_binary(), *options, *command], env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()

"""Fixtures: FDK functions run as real processes on a real unix socket."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from hotfn.fdk.testing import FunctionProcess

FUNCS = str(Path(__file__).with_name("fdk_funcs.py"))

StartFdk = Callable[..., FunctionProcess]
# The interpreter that runs the FDK; e.g. HOTFN_TEST_PYTHON=python3.8 checks the
# oldest Python the FDK supports (the checkout is put on its path).
PYTHON = os.environ.get("HOTFN_TEST_PYTHON", sys.executable)
ROOT = str(Path(__file__).resolve().parents[2])


@pytest.fixture
def start_fdk() -> Iterator[StartFdk]:
    """Factory: ``start_fdk("echo", env={...})`` serves fdk_funcs.echo; all are
    stopped at teardown."""
    started: list[FunctionProcess] = []

    def start(name: str, env: Mapping[str, str] | None = None) -> FunctionProcess:
        env = {"PYTHONPATH": ROOT, **(env or {})}
        process = FunctionProcess([PYTHON, "-m", "hotfn.fdk", f"{FUNCS}:{name}"], env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()

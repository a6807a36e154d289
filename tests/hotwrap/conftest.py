"""Fixtures: hotwrap run as a real process on a real unix socket."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from hotfn.fdk.testing import FunctionProcess

StartHotwrap = Callable[..., FunctionProcess]
# The interpreter that runs hotwrap; e.g. HOTFN_TEST_PYTHON=python3.8 checks the
# oldest Python hotwrap supports (the checkout is put on its path).
PYTHON = os.environ.get("HOTFN_TEST_PYTHON", sys.executable)
ROOT = str(Path(__file__).resolve().parents[2])


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
        argv = [PYTHON, "-m", "hotfn.hotwrap", *options, *command]
        process = FunctionProcess(argv, env={"PYTHONPATH": ROOT, **(env or {})})
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()

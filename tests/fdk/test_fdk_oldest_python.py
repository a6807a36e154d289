"""The FDK on the oldest Python it supports (3.8), when one is here.

The whole suite can run that way too: HOTFN_TEST_PYTHON=/path/to/python3.8 pytest
tests/fdk. This test keeps a smoke check in every run. (hotwrap is a static Go
executable now: no interpreter involved.)
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hotfn.fdk.testing import FunctionProcess

ROOT = str(Path(__file__).resolve().parents[2])
FUNCS = str(Path(__file__).with_name("fdk_funcs.py"))


def python38() -> str | None:
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [
        shutil.which("python3.8"),
        *sorted(glob.glob(f"{pyenv}/versions/3.8*/bin/python3.8")),
    ]
    for candidate in candidates:
        if candidate is None:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 8))"],
            capture_output=True,
            timeout=30,
        )
        if probe.stdout.strip() == b"True":
            return candidate
    return None


def test_fdk_on_python_3_8() -> None:
    python = python38()
    if python is None:
        pytest.skip("no Python 3.8 interpreter on this machine")
    env = {"PYTHONPATH": ROOT}
    with FunctionProcess([python, "-m", "hotfn.fdk", f"{FUNCS}:echo_async"], env=env) as fn:
        with fn.client() as client:
            reply = client.call(b"old", chunked=True, chunk_size=1)
            assert reply.body == b"old" and reply.headers["Fn-Fdk-Runtime"].startswith("python/3.8")
            assert client.call(b"5", deadline="2000-01-01T00:00:00Z").status == 504

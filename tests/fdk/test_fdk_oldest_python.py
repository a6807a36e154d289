"""The FDK and hotwrap on the oldest Python they support (3.8), when one is here.

The whole suites can run that way too: HOTFN_TEST_PYTHON=/path/to/python3.8 pytest
tests/fdk tests/hotwrap. This test keeps a smoke check in every run.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hotfn.fdk.testing import FunctionProcess
from hotfn.hotwrap.bundle import build_zipapp

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


def test_fdk_and_hotwrap_on_python_3_8(tmp_path: Path) -> None:
    python = python38()
    if python is None:
        pytest.skip("no Python 3.8 interpreter on this machine")
    env = {"PYTHONPATH": ROOT}
    with FunctionProcess([python, "-m", "hotfn.fdk", f"{FUNCS}:echo_async"], env=env) as fn:
        with fn.client() as client:
            reply = client.call(b"old", chunked=True, chunk_size=1)
            assert reply.body == b"old" and reply.headers["Fn-Fdk-Runtime"].startswith("python/3.8")
            assert client.call(b"5", deadline="2000-01-01T00:00:00Z").status == 504
    app = tmp_path / "hotwrap"
    build_zipapp(app)  # compiled by this Python: 3.8 must fall back to the sources
    with FunctionProcess([python, "-I", str(app), "--mode", "lines", "cat"]) as fn:
        with fn.client() as client:
            assert [client.call(w).body for w in (b"a", b"b")] == [b"a", b"b"]
    with FunctionProcess([python, "-I", str(app), "sh", "-c", "cat; exit 4"]) as fn:
        with fn.client() as client:
            reply = client.call(b"x")
            assert reply.status == 502 and reply.headers["Fn-Hotwrap-Exit-Code"] == "4"

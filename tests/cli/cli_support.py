"""Running ``hotfn`` in tests: in-process (fast, for many small cases) or as the
installed command in a subprocess (as a user runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from hotfn.cli.main import run

HOTFN = Path(sys.executable).parent / "hotfn"  # the installed console script


@dataclass
class Result:
    code: int
    out: str
    err: str

    def err_lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.strip()]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """Run the CLI in this process; its exit code and what it printed."""
    capsys.readouterr()
    code = run(list(args))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def hotfn(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
    stdin: str | None = None, timeout: float = 300,
) -> Result:  # fmt: skip
    """Run the installed ``hotfn`` command."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("HOTFN_", "FN_"))}  # fmt: skip
    proc = subprocess.run(
        [str(HOTFN), *args], cwd=cwd, env={**base, **(env or {})}, input=stdin,
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    return Result(proc.returncode, proc.stdout, proc.stderr)

"""The repository stands alone: nothing in it reads from beside the checkout.

A clone from a forge has no ``../shared`` folder; a test, script or doc that reaches
there works only on the machine it was written on.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A path that leaves the checkout: "../shared", or pathlib's ROOT.parent / "...".
OUTSIDE = re.compile(r"\.\./shared|\bshared/(example|design\.md|style\.md)|ROOT\.parent\s*/")


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_nothing_reads_outside_the_repository() -> None:
    files = tracked_files()
    assert any(f.name == "test_standalone.py" for f in files)
    offenders = []
    for path in files:
        if path.name.startswith("requirements") or path == Path(__file__).resolve():
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        offenders += [
            f"{path.relative_to(ROOT)}:{n}"
            for n, line in enumerate(text.splitlines(), 1)
            if OUTSIDE.search(line)
        ]
    assert offenders == []


def test_reference_example_is_in_the_repository() -> None:
    example = ROOT / "examples" / "reference"
    names = {p.name for p in example.iterdir()}
    assert {"func.js", "func.yaml", "Dockerfile.default", "Dockerfile.hotwrap"} <= names

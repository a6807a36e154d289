"""Package hotfn's Python FDK for function images (hotfn/python).

Runs as a plain script (``python3 hotfn/fdk/bundle.py ...``) without importing
``hotfn``, so an image build needs nothing but python3 and these sources:

``tree DIR``
    ``DIR/hotfn/fdk`` (precompiled), importable once ``DIR`` is on sys.path
``link DIR``
    put ``DIR`` on every interpreter user's path (a ``.pth`` file in site-packages)
    and install the ``fdk`` launcher as ``/usr/local/bin/fdk`` and, for images
    written for Fn, ``/python/bin/fdk``

Only ``hotfn/fdk`` is taken, with a minimal
``hotfn/__init__.py`` holding the version: the server side of hotfn never enters
a function image.
"""

from __future__ import annotations

import compileall
import os
import re
import shutil
import site
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1]  # the hotfn package directory
PACKAGES = ("fdk",)
LAUNCHERS = ("/usr/local/bin/fdk", "/python/bin/fdk")
LAUNCHER = (
    "#!/bin/sh\n"
    "# hotfn FDK: fdk MODULE:HANDLER | fdk FILE.py HANDLER\n"
    'exec python3 -m hotfn.fdk "$@"\n'
)


def version() -> str:
    """hotfn's version, read from the source (importing hotfn may need more than stdlib)."""
    text = (SOURCE / "__init__.py").read_text()
    match = re.search(r"^__version__\s*=\s*[\"']([^\"']+)[\"']", text, re.M)
    return match.group(1) if match else "0"


def stage(dest: Path) -> Path:
    """Copy the in-container packages to ``dest/hotfn``; return that directory."""
    root = dest / "hotfn"
    for package in PACKAGES:
        (root / package).mkdir(parents=True, exist_ok=True)
        for source in sorted((SOURCE / package).glob("*.py")):
            shutil.copyfile(source, root / package / source.name)
    (root / "__init__.py").write_text(
        '"""hotfn\'s in-container runtime: the FDK (stdlib only)."""\n\n'
        f'__version__ = "{version()}"\n'
    )
    return root


def build_tree(dest: Path) -> None:
    """Stage the packages into ``dest`` and precompile them (the function's user
    usually cannot write ``__pycache__`` at run time: read-only root filesystem)."""
    root = stage(dest)
    compileall.compile_dir(str(root), quiet=1)


def link(dest: Path) -> None:
    """Make ``dest`` importable for every user and install the ``fdk`` launchers."""
    site_dir = Path(site.getsitepackages()[0])
    site_dir.mkdir(parents=True, exist_ok=True)
    (site_dir / "hotfn-runtime.pth").write_text(f"{dest.resolve()}\n")
    for launcher in LAUNCHERS:
        path = Path(launcher)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(LAUNCHER)
        path.chmod(0o755)


def main(argv: list[str]) -> int:
    """``bundle.py tree DIR | link DIR``."""
    commands = {"tree": build_tree, "link": link}
    if len(argv) != 2 or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    commands[argv[0]](Path(os.path.abspath(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

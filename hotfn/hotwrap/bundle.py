"""Package hotfn's in-container code (FDK + hotwrap) for function images.

Runs as a plain script (``python3 hotfn/hotwrap/bundle.py ...``) without importing
``hotfn``, so an image build needs nothing but python3 and these sources:

``zipapp OUT``
    one executable file (``#!/usr/bin/env python3``) that runs hotwrap: ``/hotwrap``
``tree DIR``
    ``DIR/hotfn/{fdk,hotwrap}`` (precompiled), importable once ``DIR`` is on sys.path
``link DIR``
    put ``DIR`` on every interpreter user's path (a ``.pth`` file in site-packages)
    and install the ``fdk`` launcher as ``/usr/local/bin/fdk`` and, for images
    written for Fn, ``/python/bin/fdk``

Only ``hotfn/fdk`` and ``hotfn/hotwrap`` are taken, with a minimal
``hotfn/__init__.py`` holding the version: the server side of hotfn never enters
a function image.
"""

from __future__ import annotations

import compileall
import os
import py_compile
import re
import shutil
import site
import sys
import tempfile
import zipapp
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1]  # the hotfn package directory
PACKAGES = ("fdk", "hotwrap")
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
        '"""hotfn\'s in-container runtime: the FDK and hotwrap (stdlib only)."""\n\n'
        f'__version__ = "{version()}"\n'
    )
    return root


def build_zipapp(out: Path) -> None:
    """Write the executable hotwrap zipapp to ``out``."""
    with tempfile.TemporaryDirectory() as tmp:
        root = stage(Path(tmp))
        # .pyc beside each .py ("legacy" layout, the one zipimport reads) saves
        # ~70 ms of compiling at every container start. Unchecked hash-based pycs
        # need no timestamps; a different python3 rejects their magic number and
        # falls back to the sources, which are kept.
        compileall.compile_dir(
            str(root),
            quiet=1,
            legacy=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        zipapp.create_archive(
            tmp,
            out,
            interpreter="/usr/bin/env python3",
            main="hotfn.hotwrap.__main__:main",
            compressed=True,
        )
    out.chmod(0o755)


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
    """``bundle.py zipapp OUT | tree DIR | link DIR``."""
    commands = {"zipapp": build_zipapp, "tree": build_tree, "link": link}
    if len(argv) != 2 or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    commands[argv[0]](Path(os.path.abspath(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The reference example (``examples/reference``) as this machine can build it: the
example's own files, with only the image names no registry can give here replaced
by local ones. Used by the end-to-end tests and by ``bench/bench_reference.py``."""

from __future__ import annotations

from pathlib import Path

from hotfn.cli import build, funcfile
from tests.docker_support import BASE_IMAGE, ROOT

EXAMPLE = ROOT / "examples" / "reference"
NODE_FDK = EXAMPLE / "fdk"  # func.js as a handler on Fn's Node FDK, runtime: node
HELLO = ROOT / "examples" / "hello"
HOTWRAP_IMAGE = "hotfn/hotwrap:latest"
# The only edits the example's README allows: image names no registry can give here.
SUBSTITUTIONS = {"node:8-alpine": BASE_IMAGE, "fnproject/hotwrap:latest": HOTWRAP_IMAGE}


def localized_dockerfile(name: str, base: str = BASE_IMAGE, hotwrap: str = HOTWRAP_IMAGE) -> str:
    """The example's ``name`` Dockerfile with only its registry image names replaced
    (``node:8-alpine`` by ``base``, ``fnproject/hotwrap:latest`` by ``hotwrap``)."""
    text = (EXAMPLE / name).read_text()
    for old, new in {"node:8-alpine": base, "fnproject/hotwrap:latest": hotwrap}.items():
        text = text.replace(old, new)
    return text


def node_fdk_build() -> tuple[str, dict[str, Path]]:
    """The Dockerfile ``hotfn build`` makes for ``examples/reference/fdk`` (its
    func.yaml names Fn's node images: hotfn/node stands in) and the files it copies."""
    dockerfile = build.generated_dockerfile(funcfile.load(NODE_FDK))
    return dockerfile, {name: NODE_FDK / name for name in ("func.js", "package.json")}

"""Images the real-engine tests build from the local base image (no registry).

Each image is tagged with a hash of its inputs, so a session builds only what is
missing or changed and shares it between tests; images carry the test label so they
are easy to find. Containers are what the tests must clean up (see conftest).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "functions"
EXAMPLE = ROOT / "examples" / "reference"
BASE = "hotfn/base:latest"
TEST_LABEL = "io.hotfn.test"
WHEELS = Path(os.environ.get("HOTFN_FN_FDK_WHEELS", Path.home() / ".cache" / "hotfn-fn-fdk"))

DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
_built: dict[str, str] = {}


def docker(*args: str, check: bool = True, stdin: bytes | None = None) -> str:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    proc = subprocess.run(
        [DOCKER, *args], input=stdin, capture_output=True, env=env, check=False, timeout=600
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} failed: {proc.stderr.decode()}")
    return proc.stdout.decode()


def build(name: str, dockerfile: str, files: dict[str, Path | bytes]) -> str:
    """Build ``hotfn-test/<name>:<hash of inputs>`` once; return the tag."""
    digest = hashlib.sha256(dockerfile.encode())
    for rel in sorted(files):
        src = files[rel]
        digest.update(rel.encode())
        if isinstance(src, bytes):
            digest.update(src)
        elif src.is_dir():
            for p in sorted(src.rglob("*.py")) + sorted(src.rglob("*.whl")):
                digest.update(str(p.relative_to(src)).encode() + p.read_bytes())
        else:
            digest.update(src.read_bytes())
    digest.update(docker("image", "inspect", "-f", "{{.Id}}", BASE).encode())
    tag = f"hotfn-test/{name}:{digest.hexdigest()[:12]}"
    if tag in _built:
        return tag
    if docker("image", "ls", "-q", tag).strip():
        _built[tag] = tag
        return tag
    with tempfile.TemporaryDirectory(prefix="hotfn-img-") as ctx:
        ctx_path = Path(ctx)
        for rel, src in files.items():
            dest = ctx_path / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(src, bytes):
                dest.write_bytes(src)
            elif src.is_dir():
                shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(src, dest)
        (ctx_path / "Dockerfile").write_text(dockerfile)
        docker("build", "-q", "--label", f"{TEST_LABEL}=1", "-t", tag, ctx)
    _built[tag] = tag
    return tag


def fdk_files() -> dict[str, Path | bytes]:
    return {
        "hotfn/__init__.py": ROOT / "hotfn" / "__init__.py",
        "hotfn/fdk": ROOT / "hotfn" / "fdk",
    }


def pyhot() -> str:
    """A hot Python function on hotfn's FDK (tests/agent/functions/pyhot.py)."""
    return build(
        "pyhot",
        f"FROM {BASE}\n"
        "COPY hotfn /opt/hotfn/hotfn\n"
        "COPY func.py /function/func.py\n"
        "ENV PYTHONPATH=/opt/hotfn PYTHONDONTWRITEBYTECODE=1\n"
        "WORKDIR /function\n"
        'ENTRYPOINT ["python3", "-m", "hotfn.fdk", "/function/func.py:handler"]\n',
        {**fdk_files(), "func.py": HERE / "pyhot.py"},
    )


def node_default() -> str:
    """The reference example's Dockerfile.default, base image replaced, func.js as is."""
    dockerfile = (EXAMPLE / "Dockerfile.default").read_text()
    dockerfile = dockerfile.replace("FROM node:8-alpine", f"FROM {BASE}")
    assert f"FROM {BASE}" in dockerfile
    return build("node-default", dockerfile, {"func.js": EXAMPLE / "func.js"})


def cold_python() -> str:
    """A default-format Python program (large and late output, exit codes)."""
    return build(
        "coldpy",
        f'FROM {BASE}\nCOPY func.py /func.py\nENTRYPOINT ["python3", "/func.py"]\n',
        {"func.py": HERE / "coldbig.py"},
    )


def init_failure() -> str:
    """Exits at once without creating a socket, after saying why on stderr."""
    return build(
        "initfail",
        f"FROM {BASE}\n"
        'ENTRYPOINT ["python3", "-c", "import sys; print(\'no FDK in this image\', '
        'file=sys.stderr); sys.exit(2)"]\n',
        {},
    )


def fn_fdk_wheels() -> Path:
    """Fn's Python FDK and its runtime dependencies, downloaded once (``pip download``)."""
    wanted = ("fdk-", "iso8601-", "httptools-")
    have = list(WHEELS.glob("*.whl")) if WHEELS.exists() else []
    if not all(any(w.name.startswith(p) for w in have) for p in wanted):
        WHEELS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "-d", str(WHEELS),
             "--only-binary=:all:", "fdk"],
            check=True, timeout=300,
        )  # fmt: skip
    return WHEELS


def fn_fdk() -> str:
    """A function written for Fn's Python FDK, installed from wheels (no network)."""
    wheels = fn_fdk_wheels()
    files: dict[str, Path | bytes] = {"func.py": HERE / "fnfdk_func.py"}
    for whl in wheels.glob("*.whl"):
        if whl.name.startswith(("fdk-", "iso8601-", "httptools-")):
            files[f"wheels/{whl.name}"] = whl
    return build(
        "fnfdk",
        f"FROM {BASE}\n"
        "COPY wheels /tmp/wheels\n"
        'RUN for w in /tmp/wheels/*.whl; do python3 -m zipfile -e "$w" /python; done '
        "&& rm -rf /tmp/wheels\n"
        "COPY func.py /function/func.py\n"
        "ENV PYTHONPATH=/python PYTHONDONTWRITEBYTECODE=1\n"
        "WORKDIR /function\n"
        'ENTRYPOINT ["python3", "-c", "import sys; from fdk.scripts.fdk import main; '
        'sys.exit(main())", "/function/func.py", "handler"]\n',
        files,
    )


def containers_with(label: str) -> list[str]:
    return docker("ps", "-aq", "--filter", f"label={label}").split()


def remove_containers_with(label: str) -> int:
    ids = containers_with(label)
    if ids:
        docker("rm", "-f", *ids, check=False)
    return len(ids)

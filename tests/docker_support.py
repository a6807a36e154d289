"""Helpers for tests that need the real Docker Engine (mark them ``@pytest.mark.docker``).

No registry is reachable, so every image comes from the local base image
``hotfn/base:latest`` (Debian bookworm minbase + python3 + nodejs) that
``scripts/build-images`` bootstraps. Everything here is synchronous (subprocess +
the Docker CLI), so it can run in fixtures of any scope without an event loop.

- :func:`ensure_images` — once per session: ``scripts/ensure-docker`` then
  ``scripts/build-images`` (starts the engine if needed, builds base/hotwrap/python/
  node images if missing or stale). Call it from a session fixture before using the
  engine; raises :class:`DockerUnavailable` with the scripts' output on failure.
- :func:`build_image` ``(tag, dockerfile, files)`` — build a small test image with a
  throw-away context: ``files`` maps context paths to ``bytes`` or a host ``Path``
  (file or directory; ``__pycache__`` skipped). Built at most once per session, and
  not at all if the tag already carries the same inputs hash (label
  ``io.hotfn.test.inputs``: Dockerfile, files and the ids of the images it is built
  FROM). Returns the tag. Images get the label ``io.hotfn.test=1``.
- :data:`TEST_LABEL` — put ``{TEST_LABEL: <session value>}`` on every container a
  test makes (``ContainerSpec.labels`` or ``Settings.container_labels``);
  :func:`new_session_label` makes a value.
- :func:`containers_with` / :func:`remove_containers_with` ``(labels)`` — ids of /
  force-remove every container (running or not) carrying all ``labels`` (a mapping,
  a ``"k=v"`` string or several). Use them in a session finalizer to assert nothing is left.
- :func:`docker` ``(*args)`` — run the Docker CLI that matches the engine (Debian's
  ``/usr/bin/docker`` when present); returns stdout, raises on failure.

Example (a conftest)::

    @pytest.fixture(scope="session")
    def docker_label() -> Iterator[str]:
        ensure_images()
        value = new_session_label()
        yield value
        left = containers_with({TEST_LABEL: value})
        remove_containers_with({TEST_LABEL: value})
        assert not left, f"containers left behind: {left}"
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_IMAGE = "hotfn/base:latest"
TEST_LABEL = "io.hotfn.test"
INPUTS_LABEL = "io.hotfn.test.inputs"
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"

_images_ready = False
_built: set[str] = set()
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


class DockerUnavailable(RuntimeError):
    """The engine could not be started or the images could not be built."""


def docker(*args: str, check: bool = True, stdin: bytes | None = None, timeout: float = 600) -> str:
    """Run the Docker CLI; its stdout. ``check`` raises on a non-zero exit."""
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}  # the classic builder never pulls FROM
    proc = subprocess.run(
        [DOCKER, *args], input=stdin, capture_output=True, env=env, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"docker {' '.join(args[:4])} failed ({proc.returncode}): "
            f"{proc.stderr.decode(errors='replace').strip()}"
        )
    return proc.stdout.decode(errors="replace")


def ensure_images() -> None:
    """Start the engine and build the local images, once per session."""
    global _images_ready
    if _images_ready:
        return
    for script in ("ensure-docker", "build-images"):
        proc = subprocess.run(
            [str(ROOT / "scripts" / script)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=900,
            check=False,
        )
        if proc.returncode != 0:
            raise DockerUnavailable(
                f"scripts/{script} failed ({proc.returncode}):\n"
                f"{proc.stderr.decode(errors='replace')}"
            )
    _images_ready = True


def new_session_label() -> str:
    """A fresh value for :data:`TEST_LABEL`, unique to this test session."""
    return f"s{os.getpid()}-{secrets.token_hex(4)}"


def _from_images(dockerfile: str) -> list[str]:
    images = []
    for line in dockerfile.splitlines():
        words = line.split()
        if words and words[0].upper() == "FROM":
            names = [w for w in words[1:] if not w.startswith("--")]
            if names and names[0] != "scratch":
                images.append(names[0])
    return images


def _hash_inputs(dockerfile: str, files: Mapping[str, bytes | Path]) -> str:
    digest = hashlib.sha256(b"dockerfile\0" + dockerfile.encode())
    for rel in sorted(files):
        src = files[rel]
        digest.update(b"\0file\0" + rel.encode() + b"\0")
        if isinstance(src, bytes):
            digest.update(src)
        elif src.is_dir():
            for p in sorted(src.rglob("*")):
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
                    digest.update(str(p.relative_to(src)).encode() + b"\0" + p.read_bytes())
        else:
            digest.update(src.read_bytes())
    for image in _from_images(dockerfile):
        image_id = docker("image", "inspect", "-f", "{{.Id}}", image, check=False).strip()
        digest.update(b"\0from\0" + image.encode() + b"\0" + image_id.encode())
    return digest.hexdigest()


def build_image(tag: str, dockerfile: str, files: Mapping[str, bytes | Path] | None = None) -> str:
    """Build ``tag`` from ``dockerfile`` and ``files`` unless it is already up to date."""
    files = files or {}
    if tag in _built:
        return tag
    ensure_images()
    want = _hash_inputs(dockerfile, files)
    have = docker(
        "image", "inspect", "-f", f'{{{{ index .Config.Labels "{INPUTS_LABEL}" }}}}', tag,
        check=False,
    ).strip()  # fmt: skip
    if have != want:
        with tempfile.TemporaryDirectory(prefix="hotfn-test-image-") as ctx:
            ctx_path = Path(ctx)
            for rel, src in files.items():
                dest = ctx_path / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(src, bytes):
                    dest.write_bytes(src)
                elif src.is_dir():
                    shutil.copytree(src, dest, ignore=_SKIP)
                else:
                    shutil.copy2(src, dest)
            (ctx_path / "Dockerfile").write_text(dockerfile)
            docker(
                "build", "-q", "--label", f"{TEST_LABEL}=1", "--label", f"{INPUTS_LABEL}={want}",
                "-t", tag, ctx,
            )  # fmt: skip
    _built.add(tag)
    return tag


def _label_filters(labels: Mapping[str, str] | Iterable[str] | str) -> list[str]:
    if isinstance(labels, str):
        labels = [labels]
    pairs = [f"{k}={v}" for k, v in labels.items()] if isinstance(labels, Mapping) else labels
    return [arg for pair in pairs for arg in ("--filter", f"label={pair}")]


def containers_with(labels: Mapping[str, str] | Iterable[str] | str) -> list[str]:
    """Ids of all containers (running or not) that carry every one of ``labels``."""
    return docker("ps", "-aq", "--no-trunc", *_label_filters(labels)).split()


def remove_containers_with(labels: Mapping[str, str] | Iterable[str] | str) -> int:
    """Force-remove every container carrying all ``labels``; how many there were."""
    ids = containers_with(labels)
    if ids:
        docker("rm", "-f", "-v", *ids, check=False)
    return len(ids)

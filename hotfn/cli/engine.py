"""The local Docker Engine, through the ``docker`` CLI: check it runs, build, push.

The CLI rather than the Engine API because ``docker build`` already knows how to
send a context (``.dockerignore``, a Dockerfile outside the context) and how to
authenticate pushes; hotfn only watches its output. Builds use the classic builder
(``DOCKER_BUILDKIT=0``): it takes ``FROM`` images from the local engine as they are,
where BuildKit would first ask a registry about them and fail without one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from hotfn.cli.common import CliError, err, note

TAIL_LINES = 12


def docker_cli() -> str:
    """``HOTFN_DOCKER``, else ``docker`` on the PATH."""
    chosen = os.environ.get("HOTFN_DOCKER") or shutil.which("docker")
    if not chosen:
        raise CliError("the docker command is not installed; install Docker to build functions")
    return chosen


def _env() -> dict[str, str]:
    return {**os.environ, "DOCKER_BUILDKIT": "0", "DOCKER_CLI_HINTS": "false"}


def run_docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [docker_cli(), *args], capture_output=True, text=True, env=_env(),
            timeout=timeout, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise CliError(f"docker {args[0]} did not finish within {timeout:.0f}s") from None


def check_engine() -> None:
    """Fail with what to do when the engine is not reachable."""
    proc = run_docker("version", "--format", "{{.Server.Version}}", timeout=20)
    if proc.returncode != 0 or not proc.stdout.strip():
        reason = _last_line(proc.stderr) or "no answer"
        raise CliError(
            f"Docker is not running or not reachable ({reason}); start the engine "
            "(e.g. `sudo systemctl start docker`) and check `docker version`"
        )


def image_exists(image: str) -> bool:
    return run_docker("image", "inspect", "--format", "{{.Id}}", image).returncode == 0


def remove_image(image: str) -> None:
    run_docker("rmi", image)


def _watch(args: list[str], title: str, *, verbose: bool, progress: str) -> tuple[int, deque[str]]:
    """Run a long docker command with a spinner; its exit code and last lines.

    Lines starting with ``progress`` update the spinner (all lines with ``verbose``).
    """
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    console = err()
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
        stdin=subprocess.DEVNULL, errors="replace",
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        with console.status(title, spinner="dots") as status:
            for raw in proc.stdout:
                line = raw.rstrip()
                if not line:
                    continue
                tail.append(line)
                if verbose:
                    console.print(line, markup=False, highlight=False)
                elif line.startswith(progress) or not progress:
                    status.update(f"{title}: {line[:100]}")
        code = proc.wait()
    if code != 0 and not verbose:
        for line in tail:
            console.print(f"  {line}", markup=False, style="dim")
    return code, tail


def build(
    image: str,
    context: Path,
    dockerfile: Path,
    *,
    build_args: Sequence[str] = (),
    no_cache: bool = False,
    verbose: bool = False,
) -> None:
    """``docker build``; progress on stderr, the builder's own message on failure."""
    # --force-rm: a failed step's container goes too (the classic builder keeps it).
    args = [docker_cli(), "build", "--force-rm", "-t", image, "-f", str(dockerfile)]
    args += ["--label", "io.hotfn.function=1"]
    for arg in build_args:
        args += ["--build-arg", arg]
    if no_cache:
        args.append("--no-cache")
    args.append(str(context))
    code, tail = _watch(args, f"Building {image}", verbose=verbose, progress="Step ")
    if code != 0:
        raise CliError(f"building {image} failed: {_builder_message(tail)}")


_DIGEST_RE = re.compile(r"digest: (sha256:[0-9a-f]{64})")


def push(image: str, *, verbose: bool = False) -> str:
    """``docker push`` with progress; the pushed reference pinned to its digest
    (``name:tag@sha256:…``), so a later push under the same tag cannot change what
    this reference runs."""
    note(f"Pushing {image} ...")
    args = [docker_cli(), "push", image]
    code, tail = _watch(args, f"Pushing {image}", verbose=verbose, progress="")
    if code != 0:
        reason = _last_line("\n".join(tail)) or "docker push failed without output"
        raise CliError(
            f"pushing {image} failed: {reason}; log in with `docker login`, or deploy "
            "with --local to use the local image"
        )
    for line in reversed(tail):
        if found := _DIGEST_RE.search(line):
            return f"{image}@{found.group(1)}"
    raise CliError(f"pushing {image}: docker push did not report the image's digest")


def _builder_message(lines: deque[str]) -> str:
    """The line in the build output that says why it failed."""
    for line in reversed(lines):
        low = line.lower()
        if low.startswith(("the command", "error", "failed", "unable", "cannot")) or (
            "returned a non-zero code" in low
        ):
            return line
    return lines[-1] if lines else "docker build failed without output"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    # Docker 23+ clients print a deprecation notice for the classic builder first.
    lines = [ln for ln in lines if not ln.startswith(("DEPRECATED", "Install the buildx"))]
    return lines[-1] if lines else ""

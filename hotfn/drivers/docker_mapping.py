"""Translations between hotfn and the Docker Engine API, used by
:mod:`hotfn.drivers.docker`: a :class:`ContainerSpec` to the body that creates its
container (with design.md §7's hardening), engine and transport errors to hotfn's
exceptions, engine state to :class:`ExitStatus`, and an engine archive to files."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import aiohttp
from aiodocker.exceptions import DockerError

from hotfn.drivers.base import IOFS_MOUNT, LABEL_KIND, LABEL_MANAGED, ContainerSpec, ExitStatus
from hotfn.drivers.docker_attach import EngineRefused
from hotfn.errors import EngineUnavailable, HotfnError, ImageNotFound, ImagePullFailed, NotFound

DEFAULT_SOCKET = "/var/run/docker.sock"
_CONNECTION_ERROR = 900  # aiodocker's status for "cannot connect"


def default_socket() -> str:
    """``$DOCKER_HOST`` if it names a unix socket, else the engine's usual socket."""
    host = os.environ.get("DOCKER_HOST", "")
    return host.removeprefix("unix://") if host.startswith("unix://") else DEFAULT_SOCKET


def _convert(status: int, message: str, what: str, image: str | None) -> HotfnError:
    if status == _CONNECTION_ERROR:
        return EngineUnavailable(f"the Docker Engine is not reachable: {message}")
    if status == 404:
        if image is None:
            return NotFound(message)
        if "image" in message.lower():
            return ImageNotFound(message)  # the engine's own words, e.g. "No such image: x"
    return HotfnError(f"the Docker Engine refused to {what}: {message}")


@contextlib.contextmanager
def engine_errors(
    what: str, image: str | None = None, bound: float | None = None
) -> Iterator[None]:
    """Turn engine and transport errors raised inside into hotfn exceptions.

    ``what`` completes "the Docker Engine refused to ..." (and "did not ... within
    ``bound`` s" for a timeout). With ``image`` (creating a container) a 404 is
    :class:`ImageNotFound`; without it, :class:`NotFound`.
    """
    try:
        yield
    except DockerError as exc:
        raise _convert(exc.status, exc.message, what, image) from exc
    except EngineRefused as exc:
        raise _convert(exc.engine_status, exc.message, what, image) from exc
    except TimeoutError as exc:  # before OSError, its base class
        within = f"within {bound:g} s" if bound is not None else "in time"
        raise EngineUnavailable(f"the Docker Engine did not {what} {within}") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise EngineUnavailable(f"the Docker Engine is not reachable: {exc}") from exc


# The registry's words, as the engine passes them on, to a metrics label.
_PULL_REASONS = (
    ("unauthorized", ("unauthorized", "authentication required", "denied", "no basic auth")),
    ("not_found", ("manifest unknown", "not found", "name unknown", "no such")),
    ("unreachable", ("connection refused", "no such host", "dial tcp", "i/o timeout", "eof")),
)


def pull_reason(message: str) -> str:
    """A short label for why a pull failed, from the registry's message."""
    lower = message.lower()
    for reason, words in _PULL_REASONS:
        if any(w in lower for w in words):
            return reason
    return "other"


@contextlib.contextmanager
def pull_errors(image: str) -> Iterator[None]:
    """Turn a failed pull into :class:`ImagePullFailed` carrying the registry's reason;
    an engine that cannot be reached stays :class:`EngineUnavailable`."""
    try:
        yield
    except DockerError as exc:
        if exc.status == _CONNECTION_ERROR:
            raise EngineUnavailable(f"the Docker Engine is not reachable: {exc.message}") from exc
        message = str(exc.message).strip()
        raise ImagePullFailed(
            f"pulling image {image} failed: {message}", reason=pull_reason(message)
        ) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise EngineUnavailable(f"the Docker Engine is not reachable: {exc}") from exc


def container_config(spec: ContainerSpec, kind: Literal["hot", "default"]) -> dict[str, Any]:
    """The Engine API body that creates ``spec``'s container (hardening included).

    Cold containers get their stdin attached and closed after the body
    (``OpenStdin``, ``StdinOnce``) and no log driver (the attach carries the output);
    hot ones keep a bounded json-file log for :meth:`DockerDriver.logs`.
    """
    h = spec.hardening
    memory = spec.memory_mb * 1024 * 1024
    host: dict[str, Any] = {
        "Init": h.init,
        "ReadonlyRootfs": h.read_only_rootfs,
        "Memory": memory,
        "MemorySwap": memory,
        "LogConfig": (
            {"Type": "none", "Config": {}}
            if kind == "default"
            else {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}}
        ),
    }
    if h.tmpfs_tmp:
        host["Tmpfs"] = {"/tmp": h.tmpfs_tmp}
    if h.cap_drop_all:
        host["CapDrop"] = ["ALL"]
    if h.no_new_privileges:
        host["SecurityOpt"] = ["no-new-privileges"]
    if h.pids_limit is not None:
        host["PidsLimit"] = h.pids_limit
    if h.nofile is not None:
        host["Ulimits"] = [{"Name": "nofile", "Soft": h.nofile, "Hard": h.nofile}]
    if spec.network_mode:
        host["NetworkMode"] = spec.network_mode
    mounts = [
        {"Type": "bind", "Source": str(m.source), "Target": m.target, "ReadOnly": m.read_only}
        for m in spec.mounts
    ]
    if spec.iofs_dir is not None:
        mounts.insert(
            0,
            {"Type": "bind", "Source": str(spec.iofs_dir), "Target": IOFS_MOUNT, "ReadOnly": False},
        )
    if mounts:
        host["Mounts"] = mounts
    config: dict[str, Any] = {
        "Image": spec.image,
        "Env": [f"{k}={v}" for k, v in spec.env.items()],
        "Labels": {LABEL_MANAGED: "1", LABEL_KIND: kind, **spec.labels},
        "Tty": False,
        "HostConfig": host,
    }
    if h.user:
        config["User"] = h.user
    if spec.cmd is not None:
        config["Cmd"] = list(spec.cmd)
    if spec.entrypoint is not None:
        config["Entrypoint"] = list(spec.entrypoint)
    if kind == "default":
        config.update(
            AttachStdin=True, AttachStdout=True, AttachStderr=True, OpenStdin=True, StdinOnce=True
        )
    return config


def exit_status(state: Mapping[str, Any]) -> ExitStatus:
    running = bool(state.get("Running"))
    never_ran = state.get("Status") == "created"
    return ExitStatus(
        running=running,
        exit_code=None if running or never_ran else int(state.get("ExitCode", 0)),
        oom_killed=bool(state.get("OOMKilled")),
        error=str(state.get("Error") or "") or None,
    )


def untar_into(data: bytes, dest: Path) -> None:
    """Extract the engine's archive of one directory into ``dest``: the archive's
    top-level directory is stripped; links and devices are refused (a function's
    code is files and directories); everything is made readable by any user (the
    function runs as an unprivileged user, the agent may be root)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts[1:]
            if not parts or ".." in parts or member.name.startswith("/"):
                continue
            target = dest.joinpath(*parts)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                target.chmod(0o755)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                assert src is not None
                target.write_bytes(src.read())
                target.chmod(0o755 if member.mode & 0o111 else 0o644)

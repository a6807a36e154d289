"""The driver interface: everything the agent asks of a container engine.

The driver is the only code that talks to Docker. It converts every engine or
transport error into hotfn's exceptions (``hotfn.errors``), so the agent never sees
a third-party exception:

- the engine cannot be reached → :class:`~hotfn.errors.EngineUnavailable`;
- the image does not exist locally → :class:`~hotfn.errors.ImageNotFound` whose
  message is the engine's own message;
- anything else the engine refuses → :class:`~hotfn.errors.HotfnError` (500) with the
  engine's message.

Two implementations: ``hotfn.drivers.docker.DockerDriver`` (the real engine, over the
Engine API) and ``hotfn.drivers.fake.FakeDriver`` (in-process, for unit tests).

Hot containers are started from a :class:`ContainerSpec` and then talked to by the
agent over the unix socket the function creates in ``spec.iofs_dir``; the driver only
starts, watches and removes them. Cold ("default" format) calls are one driver call,
:meth:`Driver.run_default_format`, because feeding stdin, closing it and reading stdout to the
end is engine plumbing the agent should not know about.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from hotfn.body import Pipe, Reader
from hotfn.drivers.registry import RegistryAuth

# Labels every hotfn container carries. The instance label lets a server find (and
# remove) the leftovers of its own earlier runs without touching other servers'.
LABEL_MANAGED = "io.hotfn.managed"  # always "1"
LABEL_INSTANCE = "io.hotfn.instance"  # Settings.instance of the server that made it
LABEL_FN = "io.hotfn.fn"  # fn id
LABEL_KIND = "io.hotfn.kind"  # "hot" | "default" (a default-format run)

# Where the agent's per-container iofs directory appears inside the container.
IOFS_MOUNT = "/tmp/iofs"


@dataclass(frozen=True)
class Hardening:
    """Security options applied to every function container (design.md §7).

    The defaults are Fn's: ``--init``, read-only root filesystem, tmpfs on ``/tmp``,
    user 1000:1000, all capabilities dropped, no-new-privileges, pids limit 50,
    nofile 350. Memory is not here: it is ``ContainerSpec.memory_mb`` and the driver
    sets memory = memory+swap = that value (no swap).
    """

    init: bool = True
    read_only_rootfs: bool = True
    # tmpfs mounted at /tmp (options as for ``docker run --tmpfs /tmp:<opts>``); the
    # iofs bind mount lands at /tmp/iofs on top of it. None → no tmpfs.
    tmpfs_tmp: str | None = "rw,size=64m,mode=1777"
    user: str | None = "1000:1000"  # None → the image's user
    cap_drop_all: bool = True
    no_new_privileges: bool = True
    pids_limit: int | None = 50
    nofile: int | None = 350  # soft = hard limit on open files


@dataclass(frozen=True)
class ContainerSpec:
    """What to start: one container of one function.

    ``name`` is unique per container (the agent makes it); ``labels`` must include
    ``LABEL_MANAGED`` and ``LABEL_INSTANCE`` (the agent adds them, plus any extra
    labels from settings, e.g. a test session's). ``network_mode`` None means the
    engine's default; ``"none"`` gives the container only its loopback.
    ``iofs_dir`` is a host directory (mode 0777) bind-mounted read-write at
    ``/tmp/iofs`` — set for hot containers, None for cold ones. ``cmd`` and
    ``entrypoint`` None keep the image's.
    """

    name: str
    image: str
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    memory_mb: int = 128
    network_mode: str | None = None
    iofs_dir: Path | None = None
    hardening: Hardening = field(default_factory=Hardening)
    cmd: Sequence[str] | None = None
    entrypoint: Sequence[str] | None = None
    mounts: tuple[Mount, ...] = ()


@dataclass(frozen=True)
class ExitStatus:
    """How a container ended (or that it has not): from inspect or wait."""

    running: bool
    exit_code: int | None = None  # None while running
    oom_killed: bool = False
    error: str | None = None  # the engine's error for the container, if any


@dataclass(frozen=True)
class DefaultFormatResult:
    """The outcome of one cold run (:meth:`Driver.run_default_format`).

    ``stdout`` is everything the container wrote to stdout, however large, including
    output written after stdin was closed. ``stderr`` is bounded by the caller's
    ``stderr_limit`` (the tail is dropped). ``exit_code`` is None when the run timed
    out (the container was killed). Times are milliseconds: ``start_ms`` covers
    create+attach+start (and any image pull before it: ``pulled_ms``), ``run_ms``
    from start to exit (or kill).
    """

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    oom_killed: bool = False
    timed_out: bool = False
    container_id: str = ""
    start_ms: float = 0.0
    run_ms: float = 0.0
    pulled_ms: float = 0.0


@dataclass(frozen=True)
class ImageInfo:
    """What the agent needs to know about a local image.

    ``labels`` … ``layers`` let the agent recognise a function image built from one
    of hotfn's runtime images (warm generic containers, docs/coldstart.md).
    """

    id: str
    size: int = 0  # bytes
    user: str = ""  # the image's configured USER ("" = root)
    labels: Mapping[str, str] = field(default_factory=dict)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir: str = ""
    env: tuple[str, ...] = ()  # "K=V" as in the image's config
    layers: tuple[str, ...] = ()  # RootFS diff ids, base first


@dataclass(frozen=True)
class HistoryEntry:
    """One step of an image's build (``docker history``), oldest first."""

    created_by: str
    empty_layer: bool  # metadata only (ENV, LABEL, WORKDIR...): no filesystem change


@dataclass(frozen=True)
class Mount:
    """An extra bind mount of a host directory (e.g. a specialised function's code)."""

    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class LogLine:
    """One line a container wrote, without its trailing newline."""

    stream: Literal["stdout", "stderr"]
    line: str


@runtime_checkable
class Driver(Protocol):
    """A container engine as the agent sees it.

    All methods are coroutines (except :meth:`logs`, an async iterator) and raise
    only hotfn exceptions. Methods taking a container id tolerate a container that
    is already gone where it makes sense (``kill``, ``remove``) so cleanup paths
    never fail.
    """

    async def ping(self) -> None:
        """Return if the engine answers; raise ``EngineUnavailable`` otherwise."""
        ...

    async def inspect_image(self, image: str) -> ImageInfo:
        """Describe a local image; ``ImageNotFound`` (engine's message) if absent.

        Never pulls: pulling is :meth:`pull`, which the agent calls when it decides to.
        """
        ...

    async def pull(self, image: str, auth: RegistryAuth | None = None) -> None:
        """Pull ``image`` from its registry, sending ``auth`` if given.

        Returns when the engine has the image. Raises ``ImagePullFailed`` with the
        registry's own reason (``reason`` set) or ``EngineUnavailable``. No timeout of
        its own: the caller bounds it.
        """
        ...

    async def remove_image(self, image: str) -> bool:
        """Remove the tag (and the image if no other tag holds it). False if the
        image is absent or a container still uses it: nothing is forced."""
        ...

    async def image_exists(self, image: str) -> bool:
        """True if ``image`` is available locally."""
        ...

    async def start(self, spec: ContainerSpec) -> str:
        """Create and start a long-running (hot) container; return its id.

        Not auto-removed: the agent calls :meth:`remove` when done (so an exit code
        and ``OOMKilled`` can still be inspected after a crash). Raises
        ``ImageNotFound`` fast when the image is missing. If start fails after
        create, the driver removes the created container before raising.
        """
        ...

    async def wait(self, container_id: str) -> ExitStatus:
        """Block until the container exits; return how it ended.

        Returns at once if it has already exited. If the container disappears,
        returns ``ExitStatus(running=False, exit_code=None)``.
        """
        ...

    async def inspect(self, container_id: str) -> ExitStatus:
        """The container's current state (``NotFound`` if it does not exist)."""
        ...

    def logs(self, container_id: str) -> AsyncIterator[LogLine]:
        """Follow the container's stdout/stderr lines from its start until it exits.

        The iterator ends when the container stops; closing it early (``aclose``)
        releases the engine connection.
        """
        ...

    async def kill(self, container_id: str, signal: str = "SIGKILL") -> None:
        """Send ``signal``; no error if the container is gone or not running."""
        ...

    async def remove(self, container_id: str) -> None:
        """Force-remove the container (killing it if running) and its anonymous
        volumes; no error if it is already gone."""
        ...

    async def list_labelled(self, labels: Mapping[str, str]) -> list[str]:
        """Ids of all containers (running or not) carrying all of ``labels``."""
        ...

    async def remove_labelled(self, labels: Mapping[str, str]) -> int:
        """Force-remove every container carrying all of ``labels``; return how many."""
        ...

    async def run_default_format(
        self,
        spec: ContainerSpec,
        stdin: bytes,
        time_limit: float,
        stderr_limit: int = 64 * 1024,
        stdout: Pipe | None = None,
        stdin_rest: Reader | None = None,
    ) -> DefaultFormatResult:
        """Run one cold ("default" format) call and remove the container.

        With ``stdout``, the output is put into that pipe as it comes (waiting while
        it is full, so the container is held back, never the server's memory) and
        the result's ``stdout`` is empty; ``stdin_rest`` gives the rest of a body
        still arriving after ``stdin``. The caller ends the pipe.

        Create with stdin open, attach stdin/stdout/stderr, start, write ``stdin``,
        close stdin (half-close: keep reading stdout until the container exits),
        wait. ``time_limit`` (seconds) counts from start; when it passes the container
        is killed and the result has ``timed_out=True``. The container is removed
        before this returns, whatever happened (also on cancellation). Raises
        ``ImageNotFound`` / ``EngineUnavailable``; a non-zero exit is not an error.
        """
        ...

    async def update_memory(self, container_id: str, memory_mb: int) -> None:
        """Change a running container's memory limit (memory = memory+swap).

        Optional: drivers that cannot do it raise ``NotImplementedError``.
        """
        ...

    async def image_history(self, image: str) -> list[HistoryEntry]:
        """The build steps of a local image, oldest first (``ImageNotFound``)."""
        ...

    async def export_dir(
        self, image: str, path: str, dest: Path, labels: Mapping[str, str] | None = None
    ) -> None:
        """Copy directory ``path`` of ``image`` into the host directory ``dest``
        (created; its contents land directly in it). No container is started: the
        files are read from a created, never-started container that is removed. It
        carries ``labels``, so that if the server dies meanwhile, the sweep of its
        instance at the next start finds it."""
        ...

    async def close(self) -> None:
        """Release the driver's engine connections. Containers are left alone."""
        ...

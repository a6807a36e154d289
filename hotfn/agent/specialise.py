"""Which functions a warm generic runtime container can become, and their code.

A function image qualifies when (all checked from the engine's image metadata):

- it carries ``io.hotfn.runtime=<runtime>`` (set in images/python.Dockerfile and
  images/node.Dockerfile, inherited by images built FROM them) for a runtime the
  agent keeps generic containers of, and its layers start with that runtime image's
  layers (same runtime, same FDK, byte for byte);
- every layer it adds is a ``COPY``/``ADD`` into ``/function`` (a ``RUN pip install``
  or files elsewhere would be missing from a generic container), judged from the
  image's build history;
- its working directory is ``/function`` and its ``ENTRYPOINT``/``CMD`` is one the
  runtime's loader can run (:mod:`hotfn.agent.generic_loaders`): Python, hotfn's
  FDK: ``fdk FILE.py HANDLER``, ``fdk FILE.py:HANDLER``, ``fdk MODULE:HANDLER``
  (also ``/python/bin/fdk``, ``python3 -m hotfn.fdk ...``); Node, ``node FILE.js``
  (a script on Fn's Node FDK);
- it is not opted out (fn or app annotation ``hotfn.io/generic: false``), uses the
  agent's default network, and is a hot (``http-stream``) function.

The function's ``/function`` is copied out of its image once per image id into a
host cache (``<data_dir>/fncode/<id>``, via a created, never-started container) and
hard-linked (or copied) into each specialised container's own read-only ``/function``
mount: a container only ever sees the code of the function it became.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hotfn.agent.shared import AgentContext, log
from hotfn.drivers.base import HistoryEntry, ImageInfo
from hotfn.errors import HotfnError
from hotfn.types import ANNOTATION_GENERIC, Target

if TYPE_CHECKING:
    from hotfn.agent.generic_loaders import Loader

LABEL_RUNTIME = "io.hotfn.runtime"
CODE_DIR = "/function"
_FDK_LAUNCHERS = ("fdk", "/usr/local/bin/fdk", "/python/bin/fdk")
_PYTHONS = ("python3", "python", "/usr/bin/python3", "/usr/local/bin/python3")


@dataclass(frozen=True)
class Plan:
    """How to make a generic container of ``runtime`` into one function's."""

    runtime: str
    image_id: str
    argv: tuple[str, ...]  # what the image's entrypoint asks the loader to run
    env: tuple[str, ...]  # the image's ENV ("K=V")
    code: Path  # host cache of the image's /function


@dataclass(frozen=True)
class RuntimeImage:
    """A runtime image the agent keeps generic containers of."""

    name: str
    info: ImageInfo
    steps: int  # build steps (history entries) of the runtime image itself
    loader: Loader  # its generic loader


def fdk_argv(command: tuple[str, ...]) -> tuple[str, ...] | None:
    """The arguments ``command`` (ENTRYPOINT + CMD) passes to hotfn's FDK, if it runs it."""
    cmd = list(command)
    if len(cmd) == 1 and " " in cmd[0]:  # shell form: ["/bin/sh", "-c", "..."] is not
        cmd = shlex.split(cmd[0])
    if cmd and cmd[0] in _FDK_LAUNCHERS:
        args = cmd[1:]
    elif len(cmd) >= 3 and cmd[0] in _PYTHONS and cmd[1:3] == ["-m", "hotfn.fdk"]:
        args = cmd[3:]
    else:
        return None
    if len(args) not in (1, 2) or args[0].startswith("-"):
        return None
    entry = args[0].split(":", 1)[0] if len(args) == 1 else args[0]
    if entry.startswith("/") and not entry.startswith(CODE_DIR + "/"):
        return None  # code outside /function
    return tuple(args)


def _copy_destination(created_by: str, workdir: str) -> str | None:
    """Where a COPY/ADD step put its files (absolute), or None if not a COPY/ADD."""
    text = created_by.strip()
    if text.endswith("# buildkit"):  # BuildKit: "COPY src dest # buildkit"
        words = text[: -len("# buildkit")].split()
        if not words or words[0] not in ("COPY", "ADD"):
            return None
        dest = words[-1]
    else:  # classic builder: "/bin/sh -c #(nop) COPY file:<sha> in <dest> "
        marker = "#(nop) "
        i = text.find(marker)
        rest = text[i + len(marker) :].strip() if i >= 0 else text
        if not rest.startswith(("COPY ", "ADD ")) or " in " not in rest:
            return None
        dest = rest.rsplit(" in ", 1)[1].strip()
    return os.path.normpath(os.path.join(workdir, dest))


def _workdir_step(created_by: str) -> str | None:
    text = created_by.strip()
    for marker in ("#(nop) WORKDIR ", "WORKDIR "):
        i = text.find(marker)
        if i >= 0 and (marker.startswith("#") or i == 0):
            value = text[i + len(marker) :].split("#", 1)[0].strip()
            return value or None
    return None


def only_code_added(steps: list[HistoryEntry], runtime_workdir: str) -> bool:
    """True if every step that changed files copied them into /function."""
    workdir = runtime_workdir or "/"
    for step in steps:
        new_dir = _workdir_step(step.created_by)
        if new_dir is not None:
            # WORKDIR may create the directory (a layer): fine inside /function.
            workdir = os.path.normpath(os.path.join(workdir, new_dir))
            if step.empty_layer or workdir == CODE_DIR or workdir.startswith(CODE_DIR + "/"):
                continue
            return False
        if step.empty_layer:
            continue
        dest = _copy_destination(step.created_by, workdir)
        if dest is None or not (dest == CODE_DIR or dest.startswith(CODE_DIR + "/")):
            return False
    return True


class Planner:
    """Plans per image id (cached) and the host cache of functions' code."""

    def __init__(self, ctx: AgentContext, cache_dir: Path) -> None:
        self.ctx = ctx
        self.cache_dir = cache_dir
        self.runtimes: dict[str, RuntimeImage] = {}  # runtime name → its image
        self._plans: dict[str, Plan | None] = {}  # image id → plan (None: not eligible)
        self._inflight: dict[str, asyncio.Future[Plan | None]] = {}

    def eligible_target(self, target: Target) -> bool:
        """The checks that need no engine access."""
        if not self.runtimes or target.fn.format != "http-stream":
            return False
        if target.annotation(ANNOTATION_GENERIC) in (False, "false", "0", 0, "no"):
            return False
        return self.ctx.network_mode(target) == self.ctx.settings.network_mode

    async def plan(self, target: Target) -> Plan | None:
        """The plan for ``target``'s image, or None if it must start the normal way."""
        if not self.eligible_target(target):
            return None
        try:
            info = await self.ctx.driver.inspect_image(target.fn.image)
        except HotfnError:
            return None  # the normal path reports a missing image properly
        if info.id in self._plans:
            return self._plans[info.id]
        fut = self._inflight.get(info.id)
        if fut is None:
            fut = asyncio.ensure_future(self._make(info, target.fn.image))
            self._inflight[info.id] = fut
            fut.add_done_callback(lambda _f: self._inflight.pop(info.id, None))
        return await asyncio.shield(fut)

    def reject(self, image_id: str) -> None:
        """Specialising this image failed: start it the normal way from now on."""
        self._plans[image_id] = None

    async def _make(self, info: ImageInfo, image: str) -> Plan | None:
        plan: Plan | None = None
        try:
            plan = await self._analyse(info, image)
        except HotfnError as exc:
            log.info("image %s cannot use a generic container: %s", image, exc.message)
        self._plans[info.id] = plan
        return plan

    async def _analyse(self, info: ImageInfo, image: str) -> Plan | None:
        runtime = info.labels.get(LABEL_RUNTIME, "")
        rt = self.runtimes.get(runtime)
        if rt is None or info.id == rt.info.id:
            return None
        base = rt.info.layers
        if not base or info.layers[: len(base)] != base:
            log.info("image %s: not built on the current %s runtime image", image, runtime)
            return None
        argv = rt.loader.argv(info.entrypoint + info.cmd)
        if argv is None or info.workdir != CODE_DIR:
            log.info("image %s: does not run the %s FDK from %s", image, runtime, CODE_DIR)
            return None
        history = await self.ctx.driver.image_history(info.id)
        if not only_code_added(history[rt.steps :], rt.info.workdir):
            log.info("image %s: adds files outside %s", image, CODE_DIR)
            return None
        code = await self._export(info.id)
        return Plan(runtime, info.id, argv, info.env, code)

    async def _export(self, image_id: str) -> Path:
        dest = self.cache_dir / image_id.removeprefix("sha256:")[:32]
        if dest.is_dir():
            return dest
        tmp = dest.with_name(dest.name + f".tmp{os.urandom(4).hex()}")
        try:
            await self.ctx.driver.export_dir(image_id, CODE_DIR, tmp, self.ctx.labels)
            await asyncio.to_thread(_publish, tmp, dest)
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
        return dest


def _publish(tmp: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.rename(dest)
    except OSError:
        if not dest.is_dir():  # another export won the race: keep its copy
            raise


def install_code(code: Path, dest: Path) -> None:
    """Put a function's cached code into a container's (empty) /function mount."""
    for root, dirs, files in os.walk(code):
        rel = Path(root).relative_to(code)
        target = dest / rel
        for d in dirs:
            (target / d).mkdir(exist_ok=True)
            (target / d).chmod(0o755)
        for f in files:
            try:
                os.link(Path(root) / f, target / f)  # same filesystem: no copy
            except OSError:
                shutil.copy2(Path(root) / f, target / f)

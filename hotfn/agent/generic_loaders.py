"""The runtimes the agent keeps warm generic containers of, and what differs between them.

Every runtime image (``Settings.generic_images``) carries a *loader*: a program that
starts the runtime and its FDK, then waits on ``/tmp/iofs/generic.sock`` for one
specialise request (``{"env", "cwd", "argv"}``, :mod:`hotfn.agent.generic_pools`)
and becomes the function it names. Two things differ per runtime:

- the loader's command: ``fdk --generic`` in ``hotfn/python`` (hotfn/fdk/generic.py),
  ``node /opt/hotfn/node/generic.js --generic`` in ``hotfn/node``
  (images/node/generic.js, which preloads Fn's Node FDK);
- how a function image's ``ENTRYPOINT`` + ``CMD`` names its code, which becomes the
  request's ``argv``: ``fdk FILE.py HANDLER`` (:func:`~hotfn.agent.specialise.fdk_argv`)
  or ``node FILE.js [ARGS]`` (:func:`node_argv`). A command the loader could not run
  the same way (node options, code outside ``/function``) gives None: such a function
  starts from its image.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from hotfn.agent.specialise import CODE_DIR, fdk_argv
from hotfn.drivers.base import IOFS_MOUNT

_NODES = ("node", "nodejs", "/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs")
NODE_LOADER = "/opt/hotfn/node/generic.js"


@dataclass(frozen=True)
class Loader:
    """One runtime's generic loader: its command, and the ``argv`` it is sent for a
    function image's command (None: this loader cannot become that function)."""

    command: tuple[str, ...]
    argv: Callable[[tuple[str, ...]], tuple[str, ...] | None]


def node_argv(command: tuple[str, ...]) -> tuple[str, ...] | None:
    """``(script, *args)`` if ``command`` is ``node SCRIPT [ARGS]`` with the script in
    /function; the script is made absolute (the image's WORKDIR is /function)."""
    cmd = list(command)
    if len(cmd) == 1 and " " in cmd[0]:
        cmd = shlex.split(cmd[0])
    if len(cmd) < 2 or cmd[0] not in _NODES or cmd[1].startswith("-"):
        return None  # node options (--require, -e ...) change what the loader would run
    script = os.path.normpath(os.path.join(CODE_DIR, cmd[1]))
    if not script.startswith(CODE_DIR + "/"):
        return None
    return (script, *cmd[2:])


LOADERS: dict[str, Loader] = {
    "python": Loader(("fdk", "--generic", IOFS_MOUNT), fdk_argv),
    "node": Loader(("node", NODE_LOADER, "--generic", IOFS_MOUNT), node_argv),
}

"""How long the Docker driver waits for each kind of Engine request.

An engine that stops answering (overloaded, wedged on a storage driver, restarting)
must never hang a call or the shutdown. So every request the driver makes has a
bound of its own, chosen for what the request does (an inspect is cheap, a start
runs runc), and on expiry fails with an :class:`~hotfn.errors.EngineUnavailable`
that names the request, its container or image, and the bound:
"the Docker Engine did not create container hotfn-x within 30 s".

Not bounded here, on purpose: ``wait`` and a followed log last as long as the
container; their callers bound them (a call's deadline, the start timeout, the
drain). A pull is bounded by its progress: no event for ``pull_idle`` seconds ends
it, and the puller bounds it as a whole (``pull_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

from hotfn.drivers.docker_mapping import engine_errors
from hotfn.errors import InvalidInput


@dataclass(frozen=True)
class EngineBounds:
    """Seconds each Engine request may take (see the module docstring)."""

    ping: float = 5.0
    create: float = 30.0
    start: float = 60.0
    inspect: float = 10.0
    list: float = 10.0
    update: float = 10.0
    attach: float = 10.0  # opening the attach stream; the stream itself is the call's
    archive: float = 60.0  # copying a directory out of an image (up to 256 MiB)
    history: float = 10.0
    logs: float = 10.0  # what a stopped container logged after its follow ended
    image_inspect: float = 10.0
    remove_image: float = 30.0
    kill: float = 10.0
    remove: float = 20.0
    pull_idle: float = 120.0  # no progress event for this long ends a pull

    def scaled(self, factor: float) -> EngineBounds:
        """Every bound times ``factor`` (``HOTFN_ENGINE_TIMEOUT_SCALE``)."""
        if not factor > 0:
            raise InvalidInput(f"the engine timeout scale must be above 0, not {factor:g}")
        return dataclasses.replace(
            self, **{f.name: getattr(self, f.name) * factor for f in dataclasses.fields(self)}
        )


@contextlib.asynccontextmanager
async def bounded(what: str, seconds: float, image: str | None = None) -> AsyncIterator[None]:
    """Run the body within ``seconds``, engine errors mapped as by ``engine_errors``.

    ``what`` completes both "the Docker Engine refused to ..." and "the Docker Engine
    did not ... within N s" (e.g. "create container hotfn-x").
    """
    with engine_errors(what, image, bound=seconds):
        async with asyncio.timeout(seconds):
            yield

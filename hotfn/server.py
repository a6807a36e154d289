"""Running a server: build the runtime at start, tear it down in stages at stop.

Start: open the database and migrate, start change notifications, build the config
cache, the call store, the driver and the agent (which removes this instance's
leftover containers), then the detached-call dispatcher. Stop (uvicorn has already
stopped accepting and waited for in-flight requests up to ``drain_timeout``): the
dispatcher hands unfinished detached calls back to the queue, the agent drains and
removes its containers, then call records are flushed and connections closed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hotfn.agent.agent import Agent
from hotfn.agent.detached import Dispatcher
from hotfn.agent.images import puller_for
from hotfn.agent.pulling import PullingDriver
from hotfn.api.app import create_app
from hotfn.config import Settings
from hotfn.drivers.base import Driver
from hotfn.errors import HotfnError, NotFound
from hotfn.open_files import raise_open_files_limit
from hotfn.server_state import Runtime
from hotfn.store import Store
from hotfn.store.cache import ConfigCache
from hotfn.store.call_records import CallStore
from hotfn.store.db import Database
from hotfn.store.detached_queue import DetachedQueue
from hotfn.types import ANNOTATION_PROVISIONED

log = logging.getLogger("hotfn")


def _default_driver(settings: Settings) -> Driver:
    from hotfn.drivers.docker import DockerDriver
    from hotfn.drivers.docker_bounds import EngineBounds

    return DockerDriver(bounds=EngineBounds().scaled(settings.engine_timeout_scale))


def build_app(settings: Settings, driver: Driver | None = None) -> FastAPI:
    """The whole server as an ASGI app (uvicorn runs it; tests may too)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.resolve()
        db = Database(settings.database_url)
        await db.migrate()
        store = Store.open(db, settings.instance)
        await store.changes.start()
        cache = ConfigCache(store)
        calls = CallStore(db, settings)
        # Pull on demand: every start path of the agent gets a missing image pulled.
        engine = driver or _default_driver(settings)
        drv = PullingDriver(engine, puller_for(engine, settings))
        drv.attach(cache)  # credential names, prefetch of changed fns, image GC
        agent = Agent(drv, settings, calls)
        agent.provisioner.attach(cache)  # drains changed fns, provisions (hotfn.io/provisioned)
        await agent.start()
        queue = DetachedQueue(db, settings.detached_queue_max, settings.instance)
        dispatcher = Dispatcher(agent, queue, cache.target, settings)
        await dispatcher.start()  # runs what is queued, this server's unfinished calls too
        app.state.runtime = Runtime(settings, db, store, cache, calls, agent, dispatcher)
        provisioning = asyncio.create_task(_provision(store, cache, agent))
        log.info("hotfn ready on %s (db: %s)", settings.listen_address, db.url.get_backend_name())
        try:
            yield
        finally:
            provisioning.cancel()
            await asyncio.gather(provisioning, return_exceptions=True)
            await dispatcher.stop()  # before the agent: unfinished calls go back queued
            await agent.shutdown()
            await calls.close()
            await store.changes.close()
            await drv.close()
            await db.close()

    return create_app(lifespan)


async def _provision(store: Store, cache: ConfigCache, agent: Agent) -> None:
    """Start the provisioned containers of every fn that asks for them (in the
    background: the server answers meanwhile)."""
    try:
        ids = await store.fns.ids_annotated(ANNOTATION_PROVISIONED)
        targets = []
        for fn_id in ids:
            try:
                targets.append(await cache.target(fn_id))
            except NotFound:  # deleted meanwhile
                continue
        await agent.provisioner.provision_all(targets)
    except HotfnError as exc:
        log.warning("could not start provisioned containers: %s", exc.message)


def serve(settings: Settings) -> None:
    """Run in the foreground until Ctrl-C / SIGTERM."""
    import uvicorn

    from hotfn.api.drain import DrainingServer, call_tasks
    from hotfn.http_protocol import CoalescingHttpToolsProtocol

    settings.check_exposure()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.resolve()
    before, now = raise_open_files_limit()  # one descriptor per client connection
    if now != before:
        log.info("open files: soft limit raised from %d to %d", before, now)
    if settings.uds is not None:
        settings.uds.parent.mkdir(parents=True, exist_ok=True)
    app = build_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        # With uds uvicorn listens there only (bound after start-up like the port: a
        # node still starting refuses connections, so nginx tries the next one).
        uds=str(settings.uds) if settings.uds is not None else None,
        log_level="info",
        access_log=False,
        # hotfn cuts calls at the drain timeout itself (hotfn.api.drain): uvicorn's
        # own cancel, later, only catches what that missed.
        timeout_graceful_shutdown=int(settings.drain_timeout) + 5,
        lifespan="on",
        http=CoalescingHttpToolsProtocol,  # a response in one write, not two
        # Names the node in every response (uvicorn adds it: no per-call Python), so
        # routing behind nginx can be seen (docs/scale-out.md).
        headers=[("Hotfn-Node", settings.instance)],
    )
    # uvicorn re-raises the stop signal once it has shut down: with these no-op
    # handlers in place (restored by it then), a clean stop exits 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    # Everything made so far (modules, classes, the app: ~115k objects) is out of
    # the cycle collector's reach from here on: a full collection walked all of it
    # (~75 ms each), and under load collections were ~3% of the loop thread's
    # samples (py-spy, 4 callers, 2026-12-04). Refcounting still frees them.
    gc.freeze()
    DrainingServer(config, call_tasks(app), settings.drain_timeout).run()

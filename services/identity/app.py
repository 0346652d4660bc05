"""The identity service: a durable consumer of the events stream, plus request/reply."""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import timedelta

from aiohttp import web

from services.identity import retention
from services.identity.enrich import GeoIP
from services.identity.processor import Processor
from services.identity.requests import Requests
from services.identity.store import INDEXES, IdentityStore
from shared import clock, tasks
from shared.settings import Settings
from shared.subjects import Subjects
from shared.web import (
    BUS,
    DB,
    DIALECT,
    READINESS,
    SETTINGS,
    WORKSPACES,
    add_mongo,
    add_workspaces,
    create_base_app,
    watch_consumers,
)

log = logging.getLogger("parley.identity")

PROCESSOR = web.AppKey("processor", Processor)
CONSUMER = "identity"
BATCH = 200
PENDING_EVERY_SECONDS = 60.0
# a claim younger than this is most likely being finished by the worker that made it
PENDING_GRACE = timedelta(seconds=30)


def create_app(
    settings: Settings, *, pending_every: float = PENDING_EVERY_SECONDS
) -> web.Application:
    """`pending_every`: how often interrupted merges are looked for (short in tests)."""
    app = create_base_app("identity", settings)
    add_workspaces(app)
    add_mongo(app, indexes=INDEXES)
    app.cleanup_ctx.append(functools.partial(_identity_ctx, pending_every=pending_every))
    watch_consumers(app, (Subjects(settings.subject_prefix).events_stream, CONSUMER))
    return app


async def finish_pending_now_and_then(processor: Processor, every: float) -> None:
    """A merge interrupted by a crash is finished within `every` seconds, restart or not."""
    while True:
        await asyncio.sleep(every)
        try:
            await processor.finish_pending(claimed_before=clock.now() - PENDING_GRACE)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("finishing pending merges failed")


async def _identity_ctx(app: web.Application, pending_every: float):
    bus = app[BUS]
    store = IdentityStore(app[DB], app[DIALECT])
    await store.drop_unused_indexes()
    geoip = GeoIP(app[SETTINGS].geoip_db)
    processor = Processor(
        store, bus, app[WORKSPACES], geoip, app[SETTINGS].max_distinct_ids_per_person
    )
    app[PROCESSOR] = processor
    requests = Requests(
        store, processor.resolver, app[WORKSPACES], announce=processor.announce_changes
    )
    await requests.serve(bus)
    await processor.finish_pending()
    app[READINESS]["consumers"] = bus.consumers_healthy
    s = bus.subjects
    task = bus.consume_batches(
        s.events_stream,
        CONSUMER,
        s.events_all,
        processor.prepare,
        processor.process,
        BATCH,
    )
    pending = asyncio.create_task(finish_pending_now_and_then(processor, pending_every))
    sweep = asyncio.create_task(
        retention.run(store, app[WORKSPACES], app[SETTINGS].retention_sweep_s)
    )
    yield
    await tasks.stop(task, pending, sweep)
    geoip.close()

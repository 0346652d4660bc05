"""The identity service: a durable consumer of the events stream, plus request/reply."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from services.identity.enrich import GeoIP
from services.identity.processor import Processor
from services.identity.requests import Requests
from services.identity.store import INDEXES, IdentityStore
from shared.settings import Settings
from shared.web import (
    BUS,
    DB,
    READINESS,
    SETTINGS,
    WORKSPACES,
    add_mongo,
    add_workspaces,
    create_base_app,
)

PROCESSOR = web.AppKey("processor", Processor)
CONSUMER = "identity"
BATCH = 200


def create_app(settings: Settings) -> web.Application:
    app = create_base_app("identity", settings)
    add_workspaces(app)
    add_mongo(app, indexes=INDEXES)
    app.cleanup_ctx.append(_identity_ctx)
    return app


async def _identity_ctx(app: web.Application):  # type: ignore[no-untyped-def]
    bus = app[BUS]
    store = IdentityStore(app[DB])
    geoip = GeoIP(app[SETTINGS].geoip_db)
    processor = Processor(store, bus, app[WORKSPACES], geoip)
    app[PROCESSOR] = processor
    await Requests(store, processor.resolver, app[WORKSPACES]).serve(bus)
    await processor.resolver.finish_pending()
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
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    geoip.close()

"""The webhooks service: Parley's durable facts as signed, retried webhook deliveries
(docs/webhooks.md; docs/bus-contract.md, webhooks)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

from services.webhooks import deliver, topics
from services.webhooks.context import WebhooksContext
from services.webhooks.requests import serve_all
from services.webhooks.store import INDEXES, WebhooksStore
from services.webhooks.targets import GuardedResolver
from shared import tasks
from shared.settings import Settings
from shared.subjects import Subjects
from shared.web import BUS, DB, READINESS, SETTINGS, add_mongo, create_base_app, watch_consumers

HOOKS = web.AppKey("webhooks", WebhooksContext)
CHAT_CONSUMER = "webhooks"
IDENTITY_CONSUMER = "webhooks"
TICK_SECONDS = 1.0


def create_app(settings: Settings, *, tick: float = TICK_SECONDS) -> web.Application:
    app = create_base_app("webhooks", settings)
    add_mongo(app, indexes=INDEXES)
    app.cleanup_ctx.append(lambda app: _hooks_ctx(app, tick))
    s = Subjects(settings.subject_prefix)
    watch_consumers(
        app, (s.chat_facts_stream, CHAT_CONSUMER), (s.identity_stream, IDENTITY_CONSUMER)
    )
    return app


def _http(settings: Settings) -> aiohttp.ClientSession:
    """Every delivery's connections go through the resolver that refuses private addresses."""
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(settings.webhooks.allow_private),
        use_dns_cache=False,  # each attempt checks what the name resolves to now
        limit=100,
    )
    return aiohttp.ClientSession(connector=connector, auto_decompress=False)


async def _hooks_ctx(app: web.Application, tick: float):
    settings: Settings = app[SETTINGS]
    ctx = WebhooksContext(
        bus=app[BUS], store=WebhooksStore(app[DB]), settings=settings, http=_http(settings)
    )
    app[HOOKS] = ctx
    bus = ctx.bus
    app[READINESS]["consumers"] = bus.consumers_healthy
    await serve_all(ctx)

    async def on_chat_fact(payload: dict[str, Any]) -> None:
        event = topics.from_chat(payload)
        if event is not None:
            await deliver.enqueue(ctx, event)  # in the outbox before the fact is acked

    async def on_identity_fact(payload: dict[str, Any]) -> None:
        event = topics.from_identity(payload)
        if event is not None:
            await deliver.enqueue(ctx, event)

    s = bus.subjects
    running = [
        bus.consume(s.chat_facts_stream, CHAT_CONSUMER, s.chat_facts_all, on_chat_fact),
        bus.consume(s.identity_stream, IDENTITY_CONSUMER, s.identity_facts_all, on_identity_fact),
        asyncio.create_task(deliver.worker(ctx, tick)),
    ]
    yield
    await tasks.stop(*running)
    await ctx.http.close()

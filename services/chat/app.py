"""The chat service: conversations and messages, assignment, status, live delivery."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from aiohttp import web

from services.chat import retention
from services.chat.agent_sends import AgentSends
from services.chat.context import ChatContext
from services.chat.duties import TICK_SECONDS, run_duties
from services.chat.erase import apply_delete
from services.chat.inbound import apply_inbound, parse_inbound
from services.chat.live import Live
from services.chat.load import ChatLoad
from services.chat.merges import apply_merge
from services.chat.presence import Presence
from services.chat.profiles import ProfileResolver
from services.chat.reply_time import ReplyTimes
from services.chat.requests import serve_all
from services.chat.signals import agent_presence, agent_typing, visitor_signal
from services.chat.store import ChatStore, indexes
from services.chat.unmerges import apply_unmerge
from shared import tasks
from shared.metrics import CHAT_MESSAGES
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

CHAT = web.AppKey("chat", ChatContext)

INBOUND_CONSUMER = "chat"
INBOUND_BATCH = 200
MERGES_CONSUMER = "chat-identity"
DELETES_CONSUMER = "chat-person-deleted"
UNMERGES_CONSUMER = "chat-person-unmerged"


def create_app(
    settings: Settings, *, presence: Presence | None = None, tick: float = TICK_SECONDS
) -> web.Application:
    """`presence` and `tick` (the duty loop's period) are for tests that need short timers."""
    app = create_base_app("chat", settings)
    add_workspaces(app)
    add_mongo(app, indexes=indexes)
    app.cleanup_ctx.append(functools.partial(_chat_ctx, presence=presence, tick=tick))
    s = Subjects(settings.subject_prefix)
    watch_consumers(
        app,
        (s.chat_stream, INBOUND_CONSUMER),
        (s.identity_stream, MERGES_CONSUMER),
        (s.identity_stream, DELETES_CONSUMER),
        (s.identity_stream, UNMERGES_CONSUMER),
    )
    return app


async def _apply_and_count(ctx: ChatContext, items: list[Any]) -> None:
    results = await apply_inbound(ctx, items)
    await ctx.load.batch_stored(item.sent_at for item in items)
    fresh = {
        r.message["_id"] for r in results if r.created and r.message["author"]["kind"] == "visitor"
    }
    CHAT_MESSAGES.labels("in").inc(len(fresh))


async def _chat_ctx(app: web.Application, presence: Presence | None, tick: float):
    bus = app[BUS]
    store = ChatStore(app[DB], app[DIALECT])
    live = Live(bus)
    ctx = ChatContext(
        bus=bus,
        store=store,
        live=live,
        presence=presence or Presence(),
        resolver=ProfileResolver(bus, store, live),
        workspaces=app[WORKSPACES],
        load=ChatLoad(bus),
    )
    ctx.agent_sends = AgentSends(ctx)
    ctx.reply_times = ReplyTimes(store)
    app[CHAT] = ctx
    app[READINESS]["consumers"] = bus.consumers_healthy
    s = bus.subjects

    def bind(handler):
        async def run(payload: dict[str, Any]) -> Any:
            return await handler(ctx, payload)

        return run

    for workspace in ctx.workspaces.all():  # a database from before the counts, or lost
        await store.recount_if_missing(workspace.id)
    await serve_all(ctx)
    await bus.subscribe(s.request("chat", "visitor.signal"), bind(visitor_signal), queue="chat")
    await bus.subscribe(s.request("chat", "agent.typing"), bind(agent_typing), queue="chat")
    # no queue group: every replica keeps the whole presence picture
    await bus.subscribe(s.request("chat", "agent.presence"), bind(agent_presence))
    # batches run one after another, so a conversation's messages keep their order
    consumers = [
        bus.consume_batches(
            s.chat_stream,
            INBOUND_CONSUMER,
            s.chat_inbound_all,
            lambda payload: parse_inbound(ctx, payload),
            lambda items: _apply_and_count(ctx, items),
            INBOUND_BATCH,
        )
    ]

    async def merged(payload: dict[str, Any]) -> None:
        await apply_merge(store, live, payload)

    consumers.append(
        bus.consume(s.identity_stream, MERGES_CONSUMER, s.identity_fact("merged"), merged)
    )

    async def deleted(payload: dict[str, Any]) -> None:
        await apply_delete(store, bus, payload)

    consumers.append(
        bus.consume(s.identity_stream, DELETES_CONSUMER, s.identity_fact("deleted"), deleted)
    )

    async def unmerged(payload: dict[str, Any]) -> None:
        await apply_unmerge(store, live, payload)

    consumers.append(
        bus.consume(s.identity_stream, UNMERGES_CONSUMER, s.identity_fact("unmerged"), unmerged)
    )
    consumers.append(asyncio.create_task(run_duties(ctx, tick)))
    consumers.append(asyncio.create_task(ctx.agent_sends.run()))
    every = app[SETTINGS].retention_sweep_s
    consumers.append(asyncio.create_task(retention.run(store, bus, ctx.workspaces, every)))
    yield
    # stop consuming before the database closes underneath the handlers
    await tasks.stop(*consumers)
    await ctx.resolver.close()

"""The mail service: the visitor's email about unseen answers, the inbound reply listener,
the mail catcher (docs/bus-contract.md, mail)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from services.mail import agent_notify, outbound
from services.mail.catcher import Catcher
from services.mail.context import MailContext
from services.mail.inbound import start_listener
from services.mail.requests import serve_all
from services.mail.store import INDEXES, MailStore
from services.mail.transport import Transport, transport_for
from shared import tasks
from shared.settings import Settings
from shared.subjects import Subjects
from shared.web import (
    BUS,
    DB,
    READINESS,
    SETTINGS,
    WORKSPACES,
    add_mongo,
    add_workspaces,
    create_base_app,
    watch_consumers,
)

log = logging.getLogger("parley.mail")

MAIL = web.AppKey("mail", MailContext)
FACTS_CONSUMER = "mail"
TICK_SECONDS = 1.0


def create_app(
    settings: Settings, *, transport: Transport | None = None, tick: float = TICK_SECONDS
) -> web.Application:
    """`transport` and `tick` are for tests (a relay that fails on purpose, short timers)."""
    app = create_base_app("mail", settings)
    add_workspaces(app)
    add_mongo(app, indexes=INDEXES)
    app.cleanup_ctx.append(lambda app: _mail_ctx(app, transport, tick))
    watch_consumers(app, (Subjects(settings.subject_prefix).chat_facts_stream, FACTS_CONSUMER))
    return app


async def _duty_loop(ctx: MailContext, tick: float) -> None:
    while True:
        ctx.wake.clear()  # before the pass: a fact arriving during it wakes the next one
        try:
            while await outbound.send_due(ctx) + await agent_notify.notify_due(ctx):
                pass  # emails went out: more may be due behind them
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("mail duty failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.wake.wait(), tick)


async def _on_fact(ctx: MailContext, payload: dict[str, Any]) -> None:
    """Chat's facts by `kind` (docs/bus-contract.md, `P.chat.fact.<kind>`)."""
    kind = payload.get("kind")
    if kind == "erased":  # a deleted person's conversations (services/chat/erase.py)
        ids = [c for c in payload.get("conversation_ids") or [] if isinstance(c, str)]
        await ctx.store.erase_conversations(payload["workspace_id"], ids)
        return
    cid, ws = payload["conversation_id"], payload["workspace_id"]
    if kind == "agent_message":
        await outbound.on_agent_message(ctx, payload)
        # an answer is a reading: no agent needs telling about what came before it
        await agent_notify.on_agent_read(ctx, cid, ws, int(payload["message"]["seq"]))
    elif kind == "seen":
        await outbound.on_seen(ctx, payload)
    elif kind == "visitor_message":
        await agent_notify.on_visitor_message(ctx, payload)
    elif kind == "agent_read":
        await agent_notify.on_agent_read(ctx, cid, ws, int(payload["seq"]))


async def _mail_ctx(app: web.Application, transport: Transport | None, tick: float):
    settings: Settings = app[SETTINGS]
    catcher = Catcher(settings.data_dir)
    ctx = MailContext(
        bus=app[BUS],
        store=MailStore(app[DB]),
        settings=settings,
        transport=transport or transport_for(settings.mail.smtp_url, catcher),
        catcher=catcher,
        workspaces=app[WORKSPACES],
    )
    app[MAIL] = ctx
    bus = ctx.bus
    app[READINESS]["consumers"] = bus.consumers_healthy
    await serve_all(ctx)
    listener = await start_listener(ctx)
    log.info("inbound SMTP on %s:%s", settings.mail.inbound_host, settings.mail.inbound_port)

    async def on_fact(payload: dict[str, Any]) -> None:
        await _on_fact(ctx, payload)

    s = bus.subjects
    running = [
        bus.consume(s.chat_facts_stream, FACTS_CONSUMER, s.chat_facts_all, on_fact),
        asyncio.create_task(_duty_loop(ctx, tick)),
    ]
    yield
    listener.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(listener.wait_closed(), 5)
    await tasks.stop(*running)

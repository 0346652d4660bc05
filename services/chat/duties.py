"""Background duties: wake snoozed conversations when due, expire silent agents,
re-evaluate what visitors are told (business hours opening or closing, settings edits)
and route waiting conversations to agents with room (services/chat/routing.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from services.chat import facts
from services.chat.availability import announce_all
from services.chat.context import ChatContext
from services.chat.routing import route_all
from services.chat.signals import publish_presence
from shared import clock

log = logging.getLogger("parley.chat.duties")

TICK_SECONDS = 1.0
WAKE_BATCH = 500


async def wake_due(ctx: ChatContext) -> int:
    """Reopen snoozed conversations whose time came; each replica may try, one wins each."""
    at = clock.now()
    woken = 0
    for doc in await ctx.store.due_snoozes_all_workspaces(at, WAKE_BATCH):
        updated = await ctx.store.set_fields(
            doc["workspace_id"],
            doc["_id"],
            {"status": "open", "snoozed_until": None},
            guard={"status": "snoozed"},
        )
        if updated is not None:
            woken += 1
            await ctx.live.conversation_updated(updated)
            await facts.changed(ctx.bus, doc, updated)
    return woken


async def expire_agents(ctx: ChatContext) -> int:
    """Agents whose heartbeats stopped are offline: tell agents and visitors now."""
    changed = ctx.presence.expire()
    for ws in changed:
        await publish_presence(ctx, ws)
    return len(changed)


DUTIES: tuple[Callable[[ChatContext], Awaitable[int]], ...] = (
    wake_due,
    expire_agents,
    announce_all,
    route_all,
)


async def run_duties(ctx: ChatContext, tick: float = TICK_SECONDS) -> None:
    while True:
        for duty in DUTIES:  # one failing (Mongo down) does not hold up the others
            try:
                await duty(ctx)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background duty %s failed", duty.__name__)
        await asyncio.sleep(tick)

"""Background duties: wake snoozed conversations when due, expire silent agents."""

from __future__ import annotations

import asyncio
import logging

from services.chat.context import ChatContext
from services.chat.model import now
from services.chat.signals import publish_presence

log = logging.getLogger("parley.chat.snooze")

TICK_SECONDS = 1.0


async def wake_due(ctx: ChatContext) -> int:
    """Reopen snoozed conversations whose time came; each replica may try, one wins each."""
    at = now()
    due = ctx.store.conversations.find(
        {"status": "snoozed", "snoozed_until": {"$lte": at}}, projection={"_id": 1}
    ).limit(500)
    woken = 0
    async for doc in due:
        updated = await ctx.store.set_fields(
            doc["_id"], {"status": "open", "snoozed_until": None}, guard={"status": "snoozed"}
        )
        if updated is not None:
            woken += 1
            await ctx.live.conversation_updated(updated)
    return woken


async def run_duties(ctx: ChatContext, tick: float = TICK_SECONDS) -> None:
    while True:
        try:
            await wake_due(ctx)
            for ws in ctx.presence.expire():
                await publish_presence(ctx, ws)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - Mongo or NATS hiccup: try again next tick
            log.exception("background duty failed")
        await asyncio.sleep(tick)

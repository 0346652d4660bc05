"""Retention at chat: resolved conversations with no activity for their workspace's
`retention_conversations_days` removed with their messages at every sweep
(shared/retention.py). Open, pending and snoozed ones are never touched; the mail
service is told which went (`P.chat.fact.erased`, as for a deleted person)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from services.chat.store import ChatStore
from shared import retention
from shared.bus import Bus
from shared.workspaces import Workspace, WorkspaceRegistry

KINDS = ("conversations", "messages")


async def sweep_conversations(
    store: ChatStore, bus: Bus, ws: Workspace, before: datetime
) -> dict[str, int]:
    total = {"conversations": 0, "messages": 0}
    while True:
        found = await store.old_resolved(ws.id, before, retention.BATCH)
        if not found:
            return total
        ids = sorted(c["_id"] for c in found)
        digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:24]
        erased = {"kind": "erased", "workspace_id": ws.id, "conversation_ids": ids}
        await bus.publish_durable(
            bus.subjects.chat_fact("erased"), erased, f"retention:{ws.id}:{digest}"
        )
        removed = await store.sweep_resolved(ws.id, found, before)
        for kind in total:
            total[kind] += removed[kind]
        if len(found) < retention.BATCH:
            return total


async def run(store: ChatStore, bus: Bus, workspaces: WorkspaceRegistry, every: float) -> None:
    retention.declare("chat", KINDS)

    async def sweep(ws: Workspace, before: datetime) -> dict[str, int]:
        return await sweep_conversations(store, bus, ws, before)

    await retention.sweep_every(
        every, "chat", workspaces, lambda w: w.retention_conversations_days, sweep
    )

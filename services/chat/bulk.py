"""`conversations.bulk`: one change to many conversations in one request, each
conversation announced like a single change (one live frame with its state after; its
fact, activity lines and visitor frame: services/chat/changes.py)."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from services.chat.changes import followups
from services.chat.context import ChatContext
from services.chat.labels import change_labels, known_labels
from services.chat.model import summary_of
from shared.schema import builtins
from shared.schema import chat_requests as rq
from shared.schema.chat_replies import BulkResult


def _fields(p: rq.ConversationsBulk) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if p.status is not None:
        fields["status"] = p.status
        fields["snoozed_until"] = None
    if p.assignee_id is not UNSET:
        fields["assignee_id"] = p.assignee_id
    return fields


def _online_name(ctx: ChatContext, ws: str, agent_id: str) -> str | None:
    return next((a.name for a in ctx.presence.online(ws) if a.id == agent_id), None)


async def conversations_bulk(ctx: ChatContext, p: rq.ConversationsBulk) -> dict[str, Any]:
    ws = p.workspace_id
    ctx.workspace(ws)
    labels = [p.add_label] if p.add_label else []
    await known_labels(ctx, ws, labels)
    found = await ctx.store.conversations_by_id(ws, p.conversation_ids)
    ids = [i for i in p.conversation_ids if i in found]
    after = dict(found)
    if fields := _fields(p):
        after.update({d["_id"]: d for d in await ctx.store.set_many(ws, ids, fields)})
        if fields.get("assignee_id"):  # by hand: counts in the agent's load, as one by one
            for cid in ids:
                await ctx.store.take_slot(ws, fields["assignee_id"], cid, None)
    if labels:
        changes = await change_labels(ctx, ws, ids, labels, [], p.agent_id, announce=False)
        after.update({c.conversation["_id"]: c.conversation for c in changes})
    docs = [after[i] for i in ids]
    for doc in docs:
        await ctx.live.conversation_updated(doc)
    if fields:
        by = {"id": p.agent_id, "name": _online_name(ctx, ws, p.agent_id)}
        for cid in ids:
            await followups(ctx, found[cid], after[cid], by)
    result = BulkResult(
        conversations=[summary_of(d, None) for d in docs],
        missing=[i for i in p.conversation_ids if i not in found],
    )
    return builtins(result)

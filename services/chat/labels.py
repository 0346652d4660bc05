"""Labels: the workspace's list, and every change of a conversation's labels.

`change_labels` is the one way a conversation's labels change (the conversation
page's control, a bulk action): the live frame and the thread's activity line
("Ann added label Billing", services/chat/activity.py) hang on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.chat import activity
from services.chat.context import ChatContext
from services.chat.model import invalid, summary_out
from services.chat.store.labels import LabelTaken
from shared.errors import PermanentError
from shared.schema import builtins
from shared.schema import chat_requests as rq
from shared.schema.chat_replies import Label, LabelList

MAX_PER_CONVERSATION = 20


@dataclass(frozen=True)
class LabelChange:
    """What one conversation's labels became, by whom."""

    conversation: dict[str, Any]  # the document after
    added: list[str]
    removed: list[str]
    agent_id: str


def label_of(doc: dict[str, Any]) -> Label:
    return Label(id=doc["_id"], name=doc["name"], colour=doc["colour"])


async def known_labels(ctx: ChatContext, ws: str, ids: list[str]) -> None:
    """Refuse label ids the workspace does not have."""
    if not ids:
        return
    have = {d["_id"] for d in await ctx.store.labels_of(ws)}
    if unknown := [i for i in ids if i not in have]:
        raise PermanentError(f"unknown label {unknown[0]!r}", code="not_found")


async def change_labels(
    ctx: ChatContext,
    ws: str,
    conversation_ids: list[str],
    add: list[str],
    remove: list[str],
    agent_id: str,
    announce: bool = True,
) -> list[LabelChange]:
    """Add and remove labels on conversations (labels checked by the caller); one change
    per conversation whose labels moved. `announce`: send each its live frame (a bulk
    action announces its conversations once, after all its changes)."""
    before = await ctx.store.conversations_by_id(ws, conversation_ids)
    if any(len({*(d.get("labels") or ()), *add}) > MAX_PER_CONVERSATION for d in before.values()):
        raise invalid(f"a conversation carries at most {MAX_PER_CONVERSATION} labels")
    after = await ctx.store.relabel(ws, list(before), add, remove)
    changes: list[LabelChange] = []
    for doc in after:
        old = set(before[doc["_id"]].get("labels") or ())
        new = set(doc.get("labels") or ())
        if old != new:
            changes.append(LabelChange(doc, sorted(new - old), sorted(old - new), agent_id))
    if announce:
        for change in changes:
            await ctx.live.conversation_updated(change.conversation)
    await _activity_lines(ctx, ws, changes)
    return changes


async def _activity_lines(ctx: ChatContext, ws: str, changes: list[LabelChange]) -> None:
    """ "Ann added label Billing" in each changed thread, one line per label moved."""
    if not changes:
        return
    names = {d["_id"]: d["name"] for d in await ctx.store.labels_of(ws)}
    agents = {a.id: a.name for a in ctx.presence.online(ws)}
    for change in changes:
        by = {"id": change.agent_id, "name": agents.get(change.agent_id)}
        for kind, ids in (("label_added", change.added), ("label_removed", change.removed)):
            for label_id in ids:
                label = names.get(label_id, "(deleted)")
                await activity.record(ctx, change.conversation, kind, by, label=label)


# --- the verbs ------------------------------------------------------------------------
async def labels_list(ctx: ChatContext, p: rq.LabelsList) -> dict[str, Any]:
    ctx.workspace(p.workspace_id)
    docs = await ctx.store.labels_of(p.workspace_id)
    return builtins(LabelList(labels=[label_of(d) for d in docs]))


async def label_save(ctx: ChatContext, p: rq.LabelSave) -> dict[str, Any]:
    ws = p.workspace_id
    ctx.workspace(ws)
    try:
        if p.label_id is None:
            doc = await ctx.store.add_label(ws, p.name, p.colour)
        else:
            found = await ctx.store.edit_label(ws, p.label_id, p.name, p.colour)
            if found is None:
                raise PermanentError("label not found", code="not_found")
            doc = found
    except LabelTaken as exc:
        raise PermanentError(f"a label named {p.name!r} exists", code="conflict") from exc
    except ValueError as exc:
        raise invalid(str(exc)) from exc
    await ctx.live.to_agents(ws, {"type": "labels.changed"})
    return builtins(label_of(doc))


async def label_delete(ctx: ChatContext, p: rq.LabelDelete) -> dict[str, Any]:
    ws = p.workspace_id
    ctx.workspace(ws)
    if not await ctx.store.delete_label(ws, p.label_id):
        raise PermanentError("label not found", code="not_found")
    await ctx.live.to_agents(ws, {"type": "labels.changed"})
    return {"deleted": p.label_id}


async def conversation_labels(ctx: ChatContext, p: rq.ConversationLabels) -> dict[str, Any]:
    ws = p.workspace_id
    ctx.workspace(ws)
    await known_labels(ctx, ws, p.add)
    if await ctx.store.conversation(ws, p.conversation_id) is None:
        raise PermanentError("conversation not found", code="not_found")
    changes = await change_labels(ctx, ws, [p.conversation_id], p.add, p.remove, p.agent_id)
    doc = (
        changes[0].conversation if changes else await ctx.store.conversation(ws, p.conversation_id)
    )
    if doc is None:
        raise PermanentError("conversation not found", code="not_found")
    return summary_out(doc, await ctx.store.unread(doc, p.agent_id))

"""`conversation.merge`: one person's conversation (the source) merged into another of
theirs (the target), so the agents answer one thread.

Phases: check the pair (both exist, differ, belong to one known person, the target not
merged away itself); claim the source (a compare-and-set on `merged_into`: of two agents
merging at once one claims, the other answers the target and copies nothing); copy the
source's messages after the target's last seq, in their seq order, keeping their
`created_at` (so the copies keep their order among themselves and the target's seq stays
strictly increasing and unique; the thread shows them after what it held); count the
copied visitor messages in; mark the copy done; an activity line on the target.

Copies carry `client_msg_id` "merged:<source message id>" (unique per conversation), so a
copy interrupted half-way is finished, never doubled, by asking again once the claim is
`STALE_AFTER` old. The source keeps its messages and its history answers; it is resolved.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from bson import ObjectId

from services.chat import activity
from services.chat.context import ChatContext
from services.chat.model import invalid, summary_out
from shared import clock
from shared.errors import PermanentError
from shared.schema.chat_requests import ConversationMerge

STALE_AFTER = timedelta(seconds=60)


def refused(message: str) -> PermanentError:
    return PermanentError(message, code="refused")


async def merge(ctx: ChatContext, p: ConversationMerge) -> dict[str, Any]:
    """The target's summary after the merge (also when the source was merged before)."""
    ws = p.workspace_id
    ctx.workspace(ws)
    target, source = await _pair(ctx, p)
    if source.get("merged_into") is None:
        claimed = await ctx.store.claim_merge(ws, source["_id"], target["_id"])
        if claimed is None:  # another agent's claim was first
            source = await ctx.store.conversation(ws, source["_id"]) or source
            return await _answer_merged(ctx, p, target, source, copy=False)
        await ctx.live.conversation_updated(claimed)
        return await _finish(ctx, p, target, claimed)
    return await _answer_merged(ctx, p, target, source, copy=_stale(source))


async def _pair(ctx: ChatContext, p: ConversationMerge) -> tuple[dict[str, Any], dict[str, Any]]:
    ws = p.workspace_id
    if p.conversation_id == p.source_id:
        raise invalid("a conversation cannot be merged into itself")
    found = await ctx.store.conversations_by_id(ws, [p.conversation_id, p.source_id])
    target, source = found.get(p.conversation_id), found.get(p.source_id)
    if target is None or source is None:
        raise PermanentError("conversation not found", code="not_found")
    person = target.get("profile_id")
    if not person or source.get("profile_id") != person:
        raise refused("these conversations are not known to be the same person's")
    if target.get("merged_into"):
        raise refused("this conversation was merged into another; merge into that one")
    return target, source


def _stale(source: dict[str, Any]) -> bool:
    started = source.get("merge_started_at")
    if source.get("merge_copied") or started is None:
        return False
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return bool(clock.now() - started >= STALE_AFTER)


async def _answer_merged(
    ctx: ChatContext,
    p: ConversationMerge,
    target: dict[str, Any],
    source: dict[str, Any],
    copy: bool,
) -> dict[str, Any]:
    if source.get("merged_into") != target["_id"]:
        raise refused("that conversation was merged into another one")
    if copy:  # a merge that stopped half-way: finish it
        return await _finish(ctx, p, target, source)
    current = await ctx.store.conversation(p.workspace_id, target["_id"]) or target
    return summary_out(current, await ctx.store.unread(current, p.agent_id))


async def _finish(
    ctx: ChatContext, p: ConversationMerge, target: dict[str, Any], source: dict[str, Any]
) -> dict[str, Any]:
    ws = p.workspace_id
    inserted = await _copy(ctx, ws, target, source)
    visitors = sum(1 for m in inserted if m["author"].get("kind") == "visitor")
    after = await ctx.store.count_copies(ws, target["_id"], visitors) or target
    await ctx.store.merge_copied(ws, source["_id"])
    await ctx.live.conversation_updated(after)
    by = {"id": p.agent_id, "name": p.agent_name}
    visitor = source.get("email") or source.get("visitor_id")
    await activity.record(
        ctx, after, "merged", by, key=f"merge:{source['_id']}",
        from_conversation=source["_id"], visitor=visitor,
    )  # fmt: skip
    current = await ctx.store.conversation(ws, target["_id"]) or after
    return summary_out(current, await ctx.store.unread(current, p.agent_id))


async def _copy(
    ctx: ChatContext, ws: str, target: dict[str, Any], source: dict[str, Any]
) -> list[dict[str, Any]]:
    """Copy the source's messages not copied yet; the copies inserted."""
    originals = await ctx.store.all_messages(ws, source["_id"])
    keys = [f"merged:{m['_id']}" for m in originals]
    done = await ctx.store.existing_messages(ws, {target["_id"]: keys}) if keys else {}
    todo = [m for m, k in zip(originals, keys, strict=True) if (target["_id"], k) not in done]
    if not todo:
        return []
    first = await ctx.store.reserve_block(ws, target["_id"], len(todo))
    copies = [_copy_of(m, target["_id"], first + n) for n, m in enumerate(todo)]
    refused_docs = await ctx.store.insert_messages(copies)  # copied meanwhile: a seq gap
    lost = {d["_id"] for d in refused_docs}
    return [c for c in copies if c["_id"] not in lost]


def _copy_of(message: dict[str, Any], target_id: str, seq: int) -> dict[str, Any]:
    drop = {"_id", "conversation_id", "client_msg_id", "seq"}
    return {
        **{k: v for k, v in message.items() if k not in drop},
        "_id": str(ObjectId()),
        "conversation_id": target_id,
        "client_msg_id": f"merged:{message['_id']}",
        "seq": seq,
        "merged_from": message["conversation_id"],
    }

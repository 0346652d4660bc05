"""Request/reply handlers for the dashboard and the gateway (docs/bus-contract.md, chat)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.chat.assignment import pick_agent
from services.chat.context import ChatContext
from services.chat.inbound import client_msg_id_of
from services.chat.model import (
    PRIORITIES,
    STATUSES,
    VIEWS,
    choice,
    invalid,
    limit_of,
    message_out,
    opt_id,
    opt_int,
    opt_time,
    person,
    req_id,
    req_text,
    summary_out,
)
from services.chat.presence import visitor_view
from shared import clock
from shared.errors import PermanentError
from shared.metrics import CHAT_MESSAGES

Handler = Callable[[ChatContext, dict[str, Any]], Awaitable[Any]]


def not_found(what: str = "conversation") -> PermanentError:
    return PermanentError(f"{what} not found", code="not_found")


async def _conversation(ctx: ChatContext, p: dict[str, Any]) -> dict[str, Any]:
    ws = req_id(p, "workspace_id")
    ctx.workspace(ws)
    conversation = await ctx.store.conversation(ws, req_id(p, "conversation_id"))
    if conversation is None:
        raise not_found()
    return conversation


async def _summaries(
    ctx: ChatContext, ws: str, agent_id: str | None, docs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    marks = await ctx.store.read_marks(ws, agent_id, [d["_id"] for d in docs]) if agent_id else {}
    return [
        summary_out(d, max(0, d.get("visitor_count", 0) - marks.get(d["_id"], 0))) for d in docs
    ]


# --- the inbox ------------------------------------------------------------------------
async def conversations_list(ctx: ChatContext, p: dict[str, Any]) -> dict[str, Any]:
    ws = req_id(p, "workspace_id")
    ctx.workspace(ws)
    view = choice(p, "view", VIEWS) or "all"
    agent_id = opt_id(p, "agent_id")
    status = choice(p, "status", STATUSES)
    limit = limit_of(p, 25, 100)
    filters: dict[str, Any] = {}
    if view == "mine":
        if agent_id is None:
            raise invalid("view mine needs agent_id")
        filters["assignee_id"] = agent_id
    elif view == "unassigned":
        filters["assignee_id"] = None
    if status:
        filters["status"] = status
    page, next_cursor = await ctx.store.recent_page(ws, filters, limit, p.get("cursor"))
    return {
        "conversations": await _summaries(ctx, ws, agent_id, page),
        "next_cursor": next_cursor,
    }


async def conversations_changed(ctx: ChatContext, p: dict[str, Any]) -> dict[str, Any]:
    ws = req_id(p, "workspace_id")
    ctx.workspace(ws)
    since = opt_time(p, "since")
    if since is None:
        raise invalid("since is required")
    after_id = opt_id(p, "after_id")
    limit = limit_of(p, 200, 500)
    docs = await ctx.store.changed_since(ws, since, after_id, limit + 1)
    page = docs[:limit]
    last = page[-1] if page else None
    return {
        "conversations": await _summaries(ctx, ws, opt_id(p, "agent_id"), page),
        "next_since": summary_out(last, None)["updated_at"] if last else p["since"],
        "next_after_id": last["_id"] if last else after_id,
        "has_more": len(docs) > limit,
    }


async def conversations_by_profile(ctx: ChatContext, p: dict[str, Any]) -> dict[str, Any]:
    ws = req_id(p, "workspace_id")
    ctx.workspace(ws)
    profile_id = opt_id(p, "profile_id")
    raw_ids = p.get("distinct_ids") or []
    if not isinstance(raw_ids, list) or len(raw_ids) > 100:
        raise invalid("distinct_ids must be a list of at most 100 ids")
    distinct_ids = [req_id({"id": d}, "id") for d in raw_ids]
    if not profile_id and not distinct_ids:
        raise invalid("profile_id or distinct_ids is required")
    limit = limit_of(p, 20, 100)
    exclude = opt_id(p, "exclude_id")
    found = await ctx.store.of_profile(ws, profile_id, distinct_ids, limit + 1)
    mine = [d for d in found if d["_id"] != exclude]
    docs = sorted(mine, key=lambda d: (d["last_activity_at"], d["_id"]), reverse=True)
    docs = docs[:limit]
    return {"conversations": await _summaries(ctx, ws, opt_id(p, "agent_id"), docs)}


# --- one conversation -----------------------------------------------------------------
async def conversation_get(ctx: ChatContext, p: dict[str, Any]) -> dict[str, Any]:
    conversation = await _conversation(ctx, p)
    messages, more = await ctx.store.page(
        conversation["workspace_id"], conversation["_id"], limit_of(p, 50, 200)
    )
    ctx.resolver.schedule(conversation)
    unread = await ctx.store.unread(conversation, opt_id(p, "agent_id"))
    return {
        "conversation": summary_out(conversation, unread),
        "messages": [message_out(m) for m in messages],
        "has_more": more,
    }


async def conversation_messages(ctx: ChatContext, p: dict[str, Any]) -> dict[str, Any]:
    conversation = await _conversation(ctx, p)
    after_seq, before_seq = opt_int(p, "after_seq"), opt_int(p, "before_seq")
    if after_seq is not None and before_seq is not None:
        raise invalid("give after_seq or before_seq, not both")
    messages, more = await ctx.store.page(
        conversation["workspace_id"],
        conversation["_id"],
        limit_of(p, 50, 200),
        after_seq=after_seq,
        before_seq=before_seq,
    )
    return {"messages": [message_out(m) for m in messages], "has_more": more}


async def conversation_update(ctx: ChatContext, p: dict[str, Any]) -> dict[str, Any]:
    conversation = await _conversation(ctx, p)
    ws = conversation["workspace_id"]
    agent_id = opt_id(p, "agent_id")
    fields: dict[str, Any] = {}
    if (status := choice(p, "status", STATUSES)) is not None:
        fields["status"] = status
        if status == "snoozed":
            until = opt_time(p, "snoozed_until")
            if until is None or until <= clock.now():
                raise invalid("snoozing needs snoozed_until in the future")
            fields["snoozed_until"] = until
        else:
            fields["snoozed_until"] = None
    elif p.get("snoozed_until") is not None:
        raise invalid("snoozed_until goes with status snoozed")
    if (priority := choice(p, "priority", PRIORITIES)) is not None:
        fields["priority"] = priority
    if "assignee_id" in p:
        if p["assignee_id"] == "auto":
            fields["assignee_id"] = await pick_agent(ctx.store, ctx.presence, ws)
        else:
            fields["assignee_id"] = opt_id(p, "assignee_id")
    if not fields:
        raise invalid("nothing to change: give status, priority or assignee_id")
    updated = await ctx.store.set_fields(ws, conversation["_id"], fields)
    if updated is None:
        raise not_found()
    await ctx.live.conversation_updated(updated)
    return summary_out(updated, await ctx.store.unread(updated, agent_id))


async def conversation_read(ctx: ChatContext, p: dict[str, Any]) -> dict[str, Any]:
    conversation = await _conversation(ctx, p)
    agent_id = req_id(p, "agent_id")
    seq = opt_int(p, "seq")
    if seq is None:
        raise invalid("seq is required")
    mark = await ctx.store.mark_read(conversation, agent_id, seq)
    unread = await ctx.store.unread(conversation, agent_id)
    ws, cid = conversation["workspace_id"], conversation["_id"]
    await ctx.live.to_visitor(
        ws, conversation["visitor_id"], {"type": "read", "conversation_id": cid, "seq": mark}
    )
    result = {"conversation_id": cid, "agent_id": agent_id, "seq": mark, "unread": unread}
    await ctx.live.to_agents(ws, {"type": "read", **result})
    return result


async def agent_send(ctx: ChatContext, p: dict[str, Any]) -> dict[str, Any]:
    conversation = await _conversation(ctx, p)
    author = person(p.get("agent"), "agent")
    text = req_text(p, "text")
    internal = p.get("internal", False)
    if not isinstance(internal, bool):
        raise invalid("internal must be true or false")
    stored = await ctx.store.append(conversation, author, text, client_msg_id_of(p), internal)
    CHAT_MESSAGES.labels("out").inc(int(stored.created and not internal))
    await ctx.live.message(stored.message, stored.conversation)
    return message_out(stored.message)


# --- for the gateway ------------------------------------------------------------------
async def history(ctx: ChatContext, p: dict[str, Any]) -> dict[str, Any]:
    ws = req_id(p, "workspace_id")
    ctx.workspace(ws)
    conversation = await ctx.store.by_visitor(ws, req_id(p, "visitor_id"))
    if conversation is None:
        return {
            "conversation_id": None,
            "messages": [],
            "last_seq": 0,
            "has_more": False,
            "status": None,
            "visitor_read_seq": 0,
            "agent_read_seq": 0,
        }
    messages, more = await ctx.store.page(
        ws,
        conversation["_id"],
        limit_of(p, 50, 100),
        after_seq=opt_int(p, "after_seq"),
        include_internal=False,
    )
    return {
        "conversation_id": conversation["_id"],
        "messages": [message_out(m) for m in messages],
        "last_seq": conversation.get("last_seq", 0),
        "has_more": more,
        "status": conversation["status"],
        "visitor_read_seq": conversation.get("visitor_read_seq", 0),
        "agent_read_seq": await ctx.store.agent_read_seq(ws, conversation["_id"]),
    }


async def presence_get(ctx: ChatContext, p: dict[str, Any]) -> dict[str, Any]:
    workspace = ctx.workspace(req_id(p, "workspace_id"))
    presence = ctx.presence
    return visitor_view(presence.online(workspace.id), workspace, presence.wall_clock())


HANDLERS: dict[str, Handler] = {
    "history": history,
    "presence.get": presence_get,
    "agent.send": agent_send,
    "conversations.list": conversations_list,
    "conversations.changed": conversations_changed,
    "conversations.by_profile": conversations_by_profile,
    "conversation.get": conversation_get,
    "conversation.messages": conversation_messages,
    "conversation.update": conversation_update,
    "conversation.read": conversation_read,
}


async def serve_all(ctx: ChatContext) -> None:
    for verb, handler in HANDLERS.items():

        async def answer(payload: dict[str, Any], handler: Handler = handler) -> Any:
            if not isinstance(payload, dict):
                raise invalid("request must be a JSON object")
            return await handler(ctx, payload)

        await ctx.bus.serve(ctx.bus.subjects.request("chat", verb), answer)

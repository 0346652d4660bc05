"""Request/reply handlers for the dashboard and the gateway (docs/bus-contract.md, chat).

Each verb's payload is read as its Struct (shared/schema/chat_requests.py): a bad one
answers `invalid` naming the field before a handler runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from msgspec import UNSET

from services.chat import facts, thread_merge
from services.chat.bulk import conversations_bulk
from services.chat.changes import followups
from services.chat.context import ChatContext
from services.chat.labels import conversation_labels, label_delete, label_save, labels_list
from services.chat.model import invalid, message_of, rating_of, summary_of, summary_out
from services.chat.presence import visitor_view
from services.chat.rating import conversation_rate
from services.chat.routing import auto_assignee
from services.chat.search import conversations_search
from services.chat.store.counts import view_counts
from shared import clock
from shared.errors import PermanentError
from shared.schema import builtins
from shared.schema import chat_requests as rq
from shared.schema.chat_replies import (
    ConversationChanges,
    ConversationDetail,
    ConversationPage,
    ConversationSummary,
    History,
    MessagePage,
    ProfileConversations,
    ReadMark,
    ViewCounts,
)
from shared.schema.live import VisitorRead
from shared.schema.requests import read_request

Handler = Callable[[ChatContext, Any], Awaitable[Any]]


def not_found(what: str = "conversation") -> PermanentError:
    return PermanentError(f"{what} not found", code="not_found")


async def _conversation(ctx: ChatContext, p: rq.ConversationRequest) -> dict[str, Any]:
    ctx.workspace(p.workspace_id)
    conversation = await ctx.store.conversation(p.workspace_id, p.conversation_id)
    if conversation is None:
        raise not_found()
    return conversation


async def _summaries(
    ctx: ChatContext, ws: str, agent_id: str | None, docs: list[dict[str, Any]]
) -> list[ConversationSummary]:
    marks = await ctx.store.read_marks(ws, agent_id, [d["_id"] for d in docs]) if agent_id else {}
    return [summary_of(d, max(0, d.get("visitor_count", 0) - marks.get(d["_id"], 0))) for d in docs]


# --- the inbox ------------------------------------------------------------------------
async def conversations_list(ctx: ChatContext, p: rq.ConversationsList) -> dict[str, Any]:
    ws = p.workspace_id
    ctx.workspace(ws)
    filters: dict[str, Any] = {}
    if p.view == "mine":
        filters["assignee_id"] = p.agent_id
    elif p.view == "unassigned":
        filters["assignee_id"] = None
    elif p.view == "queue":  # waiting for routing (services/chat/routing.py)
        filters["assignee_id"] = None
        filters["status"] = "open"
    if p.status and p.view != "queue":
        filters["status"] = p.status
    if p.label_id:
        filters["labels"] = p.label_id
    page, next_cursor = await ctx.store.recent_page(ws, filters, p.page_size(), p.cursor)
    summaries = await _summaries(ctx, ws, p.agent_id, page)
    return builtins(ConversationPage(conversations=summaries, next_cursor=next_cursor))


async def inbox_counts(ctx: ChatContext, p: rq.InboxCounts) -> dict[str, Any]:
    """Read from the counters document kept with every change (store/counts.py)."""
    ctx.workspace(p.workspace_id)
    doc = await ctx.store.counts_of(p.workspace_id)
    return builtins(ViewCounts(counts=view_counts(doc, p.agent_id)))


async def conversations_changed(ctx: ChatContext, p: rq.ConversationsChanged) -> dict[str, Any]:
    ws = p.workspace_id
    ctx.workspace(ws)
    limit = p.page_size()
    docs = await ctx.store.changed_since(ws, p.since_at(), p.after_id, limit + 1)
    page = docs[:limit]
    last = page[-1] if page else None
    changes = ConversationChanges(
        conversations=await _summaries(ctx, ws, p.agent_id, page),
        next_since=summary_of(last, None).updated_at if last else p.since,
        next_after_id=last["_id"] if last else p.after_id,
        has_more=len(docs) > limit,
    )
    return builtins(changes)


async def conversations_by_profile(
    ctx: ChatContext, p: rq.ConversationsByProfile
) -> dict[str, Any]:
    ws = p.workspace_id
    ctx.workspace(ws)
    limit = p.page_size()
    found = await ctx.store.of_profile(ws, p.profile_id, p.distinct_ids or [], limit + 1)
    mine = [d for d in found if d["_id"] != p.exclude_id]
    docs = sorted(mine, key=lambda d: (d["last_activity_at"], d["_id"]), reverse=True)
    docs = docs[:limit]
    return builtins(ProfileConversations(await _summaries(ctx, ws, p.agent_id, docs)))


# --- one conversation -----------------------------------------------------------------
async def conversation_get(ctx: ChatContext, p: rq.ConversationGet) -> dict[str, Any]:
    conversation = await _conversation(ctx, p)
    messages, more = await ctx.store.page(
        conversation["workspace_id"],
        conversation["_id"],
        p.page_size(),
        last_seq=conversation.get("last_seq", 0),
    )
    ctx.resolver.schedule(conversation)
    unread = await ctx.store.unread(conversation, p.agent_id)
    detail = ConversationDetail(
        conversation=summary_of(conversation, unread),
        messages=[message_of(m) for m in messages],
        has_more=more,
    )
    return builtins(detail)


async def conversation_messages(ctx: ChatContext, p: rq.ConversationMessages) -> dict[str, Any]:
    conversation = await _conversation(ctx, p)
    messages, more = await ctx.store.page(
        conversation["workspace_id"],
        conversation["_id"],
        p.page_size(),
        after_seq=p.after_seq,
        before_seq=p.before_seq,
        last_seq=conversation.get("last_seq", 0),
    )
    return builtins(MessagePage(messages=[message_of(m) for m in messages], has_more=more))


async def _changes(ctx: ChatContext, ws: str, cid: str, p: rq.ConversationUpdate) -> dict[str, Any]:
    """The fields the update sets (the type has checked what goes together)."""
    fields: dict[str, Any] = {}
    if p.status is not None:
        fields["status"] = p.status
        until = p.snooze_until()
        if p.status == "snoozed" and (until is None or until <= clock.now()):
            raise invalid("snoozing needs snoozed_until in the future")
        fields["snoozed_until"] = until
    if p.priority is not None:
        fields["priority"] = p.priority
    if p.assignee_id == "auto":
        fields["assignee_id"] = await auto_assignee(ctx, ctx.workspace(ws), cid)
    elif p.assignee_id is not UNSET:
        fields["assignee_id"] = p.assignee_id
    return fields


async def conversation_update(ctx: ChatContext, p: rq.ConversationUpdate) -> dict[str, Any]:
    conversation = await _conversation(ctx, p)
    ws = conversation["workspace_id"]
    fields = await _changes(ctx, ws, conversation["_id"], p)
    updated = await ctx.store.set_fields(ws, conversation["_id"], fields)
    if updated is None:
        raise not_found()
    if fields.get("assignee_id"):  # by hand: counts in the agent's load, past capacity too
        await ctx.store.take_slot(ws, fields["assignee_id"], updated["_id"], None)
    await ctx.live.conversation_updated(updated)
    await followups(ctx, conversation, updated, _by(p), _names(p))
    return summary_out(updated, await ctx.store.unread(updated, p.agent_id))


def _by(p: rq.ConversationUpdate) -> dict[str, Any]:
    return {"id": p.agent_id, "name": p.agent_name}


def _names(p: rq.ConversationUpdate) -> dict[str, str]:
    """The names the update gives: the agent's own, and the assignee's."""
    names: dict[str, str] = {}
    if p.agent_id and p.agent_name:
        names[p.agent_id] = p.agent_name
    if p.assignee_name and isinstance(p.assignee_id, str):
        names[p.assignee_id] = p.assignee_name
    return names


async def conversation_read(ctx: ChatContext, p: rq.ConversationRead) -> dict[str, Any]:
    conversation = await _conversation(ctx, p)
    agent_id = p.agent_id
    mark = await ctx.store.mark_read(conversation, agent_id, p.seq)
    unread = await ctx.store.unread(conversation, agent_id)
    ws, cid = conversation["workspace_id"], conversation["_id"]
    await ctx.live.to_visitor(
        ws, conversation["visitor_id"], VisitorRead(conversation_id=cid, seq=mark)
    )
    result = builtins(ReadMark(conversation_id=cid, agent_id=agent_id, seq=mark, unread=unread))
    await ctx.live.to_agents(ws, {"type": "read", **result})
    await facts.agent_read(ctx.bus, conversation, mark)
    return result


async def agent_send(ctx: ChatContext, p: rq.AgentSend) -> dict[str, Any]:
    """Stored a batch at a time with the other sends waiting (services/chat/agent_sends.py)."""
    return await ctx.agent_sends.send(p)


# --- for the gateway ------------------------------------------------------------------
async def history(ctx: ChatContext, p: rq.HistoryRequest) -> dict[str, Any]:
    ws = p.workspace_id
    ctx.workspace(ws)
    conversation = await ctx.store.by_visitor(ws, p.visitor_id)
    if conversation is None:
        return builtins(History())  # no conversation before the first message
    messages: list[dict[str, Any]] = []
    more = False
    if p.after_seq is None or p.after_seq < conversation.get("last_seq", 0):
        # a reconnect that missed nothing costs the conversation's read alone
        messages, more = await ctx.store.page(
            ws,
            conversation["_id"],
            p.page_size(),
            after_seq=p.after_seq,
            include_internal=False,
            last_seq=conversation.get("last_seq", 0),
        )
    history = History(
        conversation_id=conversation["_id"],
        messages=[message_of(m) for m in messages],
        last_seq=conversation.get("last_seq", 0),
        has_more=more,
        status=conversation["status"],
        visitor_read_seq=conversation.get("visitor_read_seq", 0),
        agent_read_seq=await ctx.store.agent_read_seq(conversation),
        email=conversation.get("email"),
        rating=rating_of(conversation.get("rating")),
    )
    return builtins(history)


async def continue_open(ctx: ChatContext, p: rq.ContinueOpen) -> dict[str, Any]:
    """The visitor key a continue link's conversation is reached by (one per conversation:
    the unique (workspace, visitor_id) index), for the gateway only: never sent on."""
    conversation = await _conversation(ctx, p)
    return {
        "conversation_id": conversation["_id"],
        "visitor_id": conversation["visitor_id"],
        "distinct_id": conversation.get("distinct_id") or conversation["visitor_id"],
    }


async def presence_get(ctx: ChatContext, p: rq.PresenceRequest) -> dict[str, Any]:
    workspace = ctx.workspace(p.workspace_id)
    presence = ctx.presence
    minutes = await ctx.reply_times.minutes(workspace.id)
    return visitor_view(presence.available(workspace), workspace, presence.wall_clock(), minutes)


async def agents_presence(ctx: ChatContext, p: rq.PresenceRequest) -> dict[str, Any]:
    """For the dashboard's team list: who is online (a dashboard open, or within the
    workspace's auto-away minutes) and who of them is available (not set Away). The
    others have gone Away by themselves."""
    workspace = ctx.workspace(p.workspace_id)
    return {
        "online": [a.id for a in ctx.presence.online(workspace.id)],
        "available": [a.id for a in ctx.presence.available(workspace)],
    }


HANDLERS: dict[str, tuple[type[rq.ChatRequest], Handler]] = {
    "history": (rq.HistoryRequest, history),
    "presence.get": (rq.PresenceRequest, presence_get),
    "agents.presence": (rq.PresenceRequest, agents_presence),
    "continue.open": (rq.ContinueOpen, continue_open),
    "conversation.rate": (rq.ConversationRate, conversation_rate),
    "agent.send": (rq.AgentSend, agent_send),
    "conversations.list": (rq.ConversationsList, conversations_list),
    "conversations.changed": (rq.ConversationsChanged, conversations_changed),
    "conversations.search": (rq.ConversationsSearch, conversations_search),
    "conversations.by_profile": (rq.ConversationsByProfile, conversations_by_profile),
    "conversation.get": (rq.ConversationGet, conversation_get),
    "conversation.messages": (rq.ConversationMessages, conversation_messages),
    "conversation.update": (rq.ConversationUpdate, conversation_update),
    "conversation.read": (rq.ConversationRead, conversation_read),
    "conversation.labels": (rq.ConversationLabels, conversation_labels),
    "conversations.bulk": (rq.ConversationsBulk, conversations_bulk),
    "inbox.counts": (rq.InboxCounts, inbox_counts),
    "labels.list": (rq.LabelsList, labels_list),
    "label.save": (rq.LabelSave, label_save),
    "label.delete": (rq.LabelDelete, label_delete),
    "conversation.merge": (rq.ConversationMerge, thread_merge.merge),
}


async def serve_all(ctx: ChatContext) -> None:
    for verb, (shape, handler) in HANDLERS.items():

        async def answer(
            payload: Any, shape: type[rq.ChatRequest] = shape, handler: Handler = handler
        ) -> Any:
            return await handler(ctx, read_request(payload, shape))

        await ctx.bus.serve(ctx.bus.subjects.request("chat", verb), answer)

"""Core-NATS signals (at-most-once): typing both ways, the visitor's read marks, agent presence."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from services.chat import facts
from services.chat.availability import announce
from services.chat.context import ChatContext
from shared.schema.live import (
    AgentPresence,
    AgentTyping,
    Face,
    LiveRefused,
    TypingSignal,
    VisitorTyping,
    read_agent_signal,
    read_signal,
)

log = logging.getLogger("parley.chat.signals")


async def visitor_signal(ctx: ChatContext, payload: dict[str, Any]) -> None:
    """Trust only the token's visitor_id: the conversation is looked up by it. A payload
    that is not a signal (shared/schema/live.py) is logged and dropped."""
    try:
        signal = read_signal(payload)
    except LiveRefused as exc:
        log.warning("malformed visitor signal dropped", extra={"reason": str(exc)})
        return
    ws = signal.workspace_id
    ctx.workspace(ws)
    conversation = await ctx.store.by_visitor(ws, signal.visitor_id)
    if conversation is None:
        return
    cid = conversation["_id"]
    if isinstance(signal, TypingSignal):
        await ctx.live.to_agents(
            ws,
            {
                "type": "typing",
                "conversation_id": cid,
                "visitor_id": conversation["visitor_id"],
                "typing": signal.typing,
            },
        )
        return
    seq = min(signal.seq, conversation.get("last_seq", 0))
    if seq <= conversation.get("visitor_read_seq", 0):
        return
    updated = await ctx.store.set_fields(
        ws, cid, {"visitor_read_seq": seq}, guard={"visitor_read_seq": {"$lt": seq}}
    )
    if updated is not None:
        await ctx.live.to_agents(ws, {"type": "visitor.read", "conversation_id": cid, "seq": seq})
        await facts.seen(ctx.bus, updated, seq)


async def agent_typing(ctx: ChatContext, payload: dict[str, Any]) -> None:
    try:
        signal = read_agent_signal(payload, AgentTyping)
    except LiveRefused as exc:
        log.warning("malformed agent typing dropped", extra={"reason": str(exc)})
        return
    ws = signal.workspace_id
    ctx.workspace(ws)
    conversation = await ctx.store.conversation(ws, signal.conversation_id)
    if conversation is None:
        return
    agent = signal.agent.author("agent")
    await ctx.live.to_visitor(
        ws,
        conversation["visitor_id"],
        VisitorTyping(typing=signal.typing, agent=Face(name=agent["name"], avatar=agent["avatar"])),
    )
    public = {k: agent[k] for k in ("id", "name", "avatar")}
    await ctx.live.to_agents(
        ws,
        {
            "type": "agent.typing",
            "conversation_id": conversation["_id"],
            "agent": public,
            "typing": signal.typing,
        },
    )


async def publish_presence(ctx: ChatContext, workspace_id: str) -> None:
    """The set of online agents changed: tell the agents, and the visitors if they see it."""
    agents = [a.public() for a in ctx.presence.online(workspace_id)]
    await ctx.live.to_agents(workspace_id, {"type": "presence", "agents": agents})
    await announce(ctx, workspace_id)


async def agent_presence(ctx: ChatContext, payload: dict[str, Any]) -> None:
    try:
        signal = read_agent_signal(payload, AgentPresence)
    except LiveRefused as exc:
        log.warning("malformed agent presence dropped", extra={"reason": str(exc)})
        return
    ws = signal.workspace_id
    workspace = ctx.workspace(ws)
    linger = workspace.auto_away_minutes * 60.0
    if ctx.presence.heartbeat(ws, msgspec.structs.asdict(signal), linger):
        await publish_presence(ctx, ws)

"""Core-NATS signals (at-most-once): typing both ways, the visitor's read marks, agent presence."""

from __future__ import annotations

import logging
from typing import Any

from services.chat import facts
from services.chat.availability import announce
from services.chat.context import ChatContext
from services.chat.model import opt_int, person, req_id

log = logging.getLogger("parley.chat.signals")


async def visitor_signal(ctx: ChatContext, p: dict[str, Any]) -> None:
    """Trust only the token's visitor_id: the conversation is looked up by it."""
    ws = req_id(p, "workspace_id")
    ctx.workspace(ws)
    conversation = await ctx.store.by_visitor(ws, req_id(p, "visitor_id"))
    if conversation is None:
        return
    cid = conversation["_id"]
    if p.get("type") == "typing":
        typing = p.get("typing") is True
        await ctx.live.to_agents(
            ws,
            {
                "type": "typing",
                "conversation_id": cid,
                "visitor_id": conversation["visitor_id"],
                "typing": typing,
            },
        )
    elif p.get("type") == "read":
        seq = min(opt_int(p, "seq") or 0, conversation.get("last_seq", 0))
        if seq <= conversation.get("visitor_read_seq", 0):
            return
        updated = await ctx.store.set_fields(
            ws, cid, {"visitor_read_seq": seq}, guard={"visitor_read_seq": {"$lt": seq}}
        )
        if updated is not None:
            await ctx.live.to_agents(
                ws, {"type": "visitor.read", "conversation_id": cid, "seq": seq}
            )
            await facts.seen(ctx.bus, updated, seq)


async def agent_typing(ctx: ChatContext, p: dict[str, Any]) -> None:
    ws = req_id(p, "workspace_id")
    ctx.workspace(ws)
    conversation = await ctx.store.conversation(ws, req_id(p, "conversation_id"))
    if conversation is None:
        return
    agent = person(p.get("agent"), "agent")
    typing = p.get("typing") is True
    await ctx.live.to_visitor(
        ws,
        conversation["visitor_id"],
        {
            "type": "typing",
            "typing": typing,
            "agent": {"name": agent["name"], "avatar": agent["avatar"]},
        },
    )
    public = {k: agent[k] for k in ("id", "name", "avatar")}
    await ctx.live.to_agents(
        ws,
        {
            "type": "agent.typing",
            "conversation_id": conversation["_id"],
            "agent": public,
            "typing": typing,
        },
    )


async def publish_presence(ctx: ChatContext, workspace_id: str) -> None:
    """The set of online agents changed: tell the agents, and the visitors if they see it."""
    agents = [a.public() for a in ctx.presence.online(workspace_id)]
    await ctx.live.to_agents(workspace_id, {"type": "presence", "agents": agents})
    await announce(ctx, workspace_id)


async def agent_presence(ctx: ChatContext, p: dict[str, Any]) -> None:
    ws = req_id(p, "workspace_id")
    ctx.workspace(ws)
    if ctx.presence.heartbeat(ws, p):
        await publish_presence(ctx, ws)

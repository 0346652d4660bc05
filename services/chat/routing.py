"""Routing: give waiting conversations to available agents who have room, oldest first.

The workspace's `routing` setting picks the order (`round_robin`: the next agent after
the last one given a conversation; `least_busy`: fewest held first); `off` leaves every
conversation for agents to take by hand. Each duty tick every replica drains each
routed workspace's queue (open unassigned conversations, oldest first):

1. free the slots of conversations no longer open with their agent (resolved,
   snoozed, reassigned by hand): room comes back one tick after it is made; and the
   slots a crashed replica took but never claimed, once they have waited too long
   (services/chat/claims.py);
2. for each waiting conversation, take a slot of the agent in turn (guarded by their
   capacity: of replicas racing for the last slot one wins, the others try the next
   agent), then claim the conversation (`assignee_id` set only while it is still
   open and unassigned: one replica wins; the others give their slot back). The
   conversation is announced once both hold.

So two replicas never give one conversation to two agents, and an agent never holds
more routed conversations than their capacity.
"""

from __future__ import annotations

from typing import Any

from services.chat import activity, facts
from services.chat.assignment import next_in_turn
from services.chat.context import ChatContext
from shared.workspaces import Workspace

QUEUE_BATCH = 50


def order_of(mode: str, loads: dict[str, int], last: str | None) -> list[str]:
    """The agents with room, in the order the mode tries them."""
    ids = sorted(loads)
    if mode == "least_busy":
        return sorted(ids, key=lambda a: (loads[a], a))
    first = next_in_turn(ids, last)
    if first is None:
        return []
    at = ids.index(first)
    return ids[at:] + ids[:at]


def _state(found: dict[str, Any] | None, agent_id: str) -> str:
    """What a held conversation is: "kept" (open with the agent), "pending" (open and
    unassigned: a replica between taking the slot and claiming it, or one that crashed
    there) or "done" (anything else: the slot is free again)."""
    if found is None or found.get("status") != "open":
        return "done"
    return {agent_id: "kept", None: "pending"}.get(found.get("assignee_id"), "done")


async def free_finished(ctx: ChatContext, ws: str, held: dict[str, list[str]]) -> dict[str, int]:
    """Release slots whose conversation is no longer open with its agent, and the ones
    left unclaimed too long (services/chat/claims.py); agent -> held."""
    ids = [cid for cids in held.values() for cid in cids]
    found = await ctx.store.routing_states(ws, ids)
    now = ctx.presence.clock()
    loads: dict[str, int] = {}
    for agent_id, cids in held.items():
        kept = 0
        for cid in cids:
            state, key = _state(found.get(cid), agent_id), (ws, agent_id, cid)
            if state == "pending" and not ctx.claims.stuck(key, now):
                kept += 1
                continue
            ctx.claims.settled(key)
            if state == "kept":
                kept += 1
            else:
                await ctx.store.release_slot(ws, agent_id, cid)
        loads[agent_id] = kept
    return loads


async def assign_one(
    ctx: ChatContext, workspace: Workspace, conversation_id: str, loads: dict[str, int]
) -> str | None:
    """Give the conversation to the first agent in turn with room; who got it (None: nobody
    had room, or another replica claimed it first). `loads` is updated."""
    ws = workspace.id
    roomy = {a: n for a, n in loads.items() if n < workspace.capacity_of(a)}
    last = await ctx.store.assign_position(ws) if workspace.routing == "round_robin" else None
    for agent_id in order_of(workspace.routing, roomy, last):
        capacity = workspace.capacity_of(agent_id)
        if not await ctx.store.take_slot(ws, agent_id, conversation_id, capacity):
            loads[agent_id] = capacity  # another replica filled their last slot
            continue
        claimed = await ctx.store.set_fields(
            ws,
            conversation_id,
            {"assignee_id": agent_id},
            guard={"assignee_id": None, "status": "open"},
        )
        if claimed is None:  # another replica (or an agent) took it: give the slot back
            await ctx.store.release_slot(ws, agent_id, conversation_id)
            return None
        loads[agent_id] += 1
        if workspace.routing == "round_robin":
            await ctx.store.set_assign_position(ws, agent_id)
        await ctx.live.conversation_updated(claimed)
        await facts.changed(ctx.bus, {**claimed, "assignee_id": None}, claimed)
        await activity.record(
            ctx, claimed, "assigned", activity.ROUTING, to=_agent(ctx, ws, agent_id)
        )
        return agent_id
    return None


async def auto_assignee(ctx: ChatContext, workspace: Workspace, conversation_id: str) -> str | None:
    """The agent's "Auto-assign (round-robin)": the next available agent in turn *with
    room*, their slot taken for the conversation under their capacity like routing's
    (None: nobody available has room; the conversation waits in the queue)."""
    ws = workspace.id
    agents = [a.id for a in ctx.presence.available(workspace)]
    if not agents:
        return None
    loads = await free_finished(ctx, ws, await ctx.store.slots_of(ws, agents))
    roomy = {a: n for a, n in loads.items() if n < workspace.capacity_of(a)}
    for agent_id in order_of("round_robin", roomy, await ctx.store.assign_position(ws)):
        if await ctx.store.take_slot(
            ws, agent_id, conversation_id, workspace.capacity_of(agent_id)
        ):
            await ctx.store.set_assign_position(ws, agent_id)
            return agent_id
    return None


def _agent(ctx: ChatContext, ws: str, agent_id: str) -> dict[str, Any]:
    """The agent as the activity line names them (routing gives only to agents online)."""
    names = {a.id: a.name for a in ctx.presence.online(ws)}
    return {"id": agent_id, "name": names.get(agent_id)}


async def drain(ctx: ChatContext, workspace: Workspace) -> int:
    """Assign what the workspace's queue can, oldest first; how many were assigned."""
    agents = [a.id for a in ctx.presence.available(workspace)]
    if workspace.routing == "off" or not agents:
        return 0
    waiting = await ctx.store.queue(workspace.id, QUEUE_BATCH)
    if not waiting:
        return 0
    loads = await free_finished(ctx, workspace.id, await ctx.store.slots_of(workspace.id, agents))
    assigned = 0
    for doc in waiting:
        if not any(n < workspace.capacity_of(a) for a, n in loads.items()):
            break  # nobody has room: the rest wait, in order
        if await assign_one(ctx, workspace, doc["_id"], loads):
            assigned += 1
    return assigned


async def route_all(ctx: ChatContext) -> int:
    """One duty tick: drain every routed workspace's queue."""
    if not ctx.presence.settled():
        return 0
    return sum([await drain(ctx, ws) for ws in ctx.workspaces.all()])

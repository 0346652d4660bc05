"""Round-robin assignment among the agents available right now.

The position (the last agent given a conversation) lives in Mongo, so replicas
take turns from the same place; the next agent is the first online one whose id
sorts after it, wrapping around.
"""

from __future__ import annotations

from services.chat.presence import Presence
from services.chat.store import ChatStore
from shared.workspaces import Workspace


def next_in_turn(online_ids: list[str], last: str | None) -> str | None:
    if not online_ids:
        return None
    ordered = sorted(online_ids)
    if last is not None:
        for agent_id in ordered:
            if agent_id > last:
                return agent_id
    return ordered[0]


async def pick_agent(store: ChatStore, presence: Presence, workspace: Workspace) -> str | None:
    """The next available agent in turn (an agent who set themselves Away is skipped)."""
    online = [a.id for a in presence.available(workspace)]
    if not online:
        return None
    chosen = next_in_turn(online, await store.assign_position(workspace.id))
    await store.set_assign_position(workspace.id, chosen)
    return chosen

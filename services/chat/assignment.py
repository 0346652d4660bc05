"""Round-robin order among the agents available right now (routing.py takes the turns).

The position (the last agent given a conversation) lives in Mongo, so replicas
take turns from the same place; the next agent is the first online one whose id
sorts after it, wrapping around.
"""

from __future__ import annotations


def next_in_turn(online_ids: list[str], last: str | None) -> str | None:
    if not online_ids:
        return None
    ordered = sorted(online_ids)
    if last is not None:
        for agent_id in ordered:
            if agent_id > last:
                return agent_id
    return ordered[0]

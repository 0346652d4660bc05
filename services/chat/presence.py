"""Which agents are online, from the dashboard's heartbeats (core NATS, every ~15 s).

Every chat replica hears every heartbeat (no queue group), so each one answers
`presence.get` from its own memory. An agent silent for `ttl` seconds is offline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.chat.model import person

TTL_SECONDS = 45.0


@dataclass
class Agent:
    id: str
    name: str
    avatar: str | None
    expires: float

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "avatar": self.avatar}


class Presence:
    def __init__(
        self, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._by_ws: dict[str, dict[str, Agent]] = {}

    def heartbeat(self, workspace_id: str, payload: dict[str, Any]) -> bool:
        """Record a heartbeat; True when the workspace's set of online agents changed."""
        agents = self._by_ws.setdefault(workspace_id, {})
        raw = {
            "id": payload.get("agent_id"),
            "name": payload.get("name"),
            "avatar": payload.get("avatar"),
        }
        who = person(raw, "agent")
        if payload.get("online") is False:
            return agents.pop(who["id"], None) is not None
        changed = who["id"] not in agents
        agents[who["id"]] = Agent(who["id"], who["name"], who["avatar"], self.clock() + self.ttl)
        return changed

    def expire(self) -> list[str]:
        """Drop silent agents; the workspaces whose online set changed."""
        at = self.clock()
        changed = []
        for ws, agents in self._by_ws.items():
            gone = [a for a, info in agents.items() if info.expires <= at]
            for agent_id in gone:
                del agents[agent_id]
            if gone:
                changed.append(ws)
        return changed

    def online(self, workspace_id: str) -> list[Agent]:
        at = self.clock()
        agents = self._by_ws.get(workspace_id, {})
        return sorted((a for a in agents.values() if a.expires > at), key=lambda a: a.id)

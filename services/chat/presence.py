"""Which agents are online, from the dashboard's heartbeats (core NATS, every ~15 s).

Every chat replica hears every heartbeat (no queue group), so each one answers
`presence.get` from its own memory. An agent silent for `ttl` seconds is offline;
with the workspace's `auto_away_minutes` set, an agent whose last dashboard closed
stays online that long before going Away by themselves. An agent who set themselves
Away (the workspace's `away_agents`, written by the dashboard) is online but not
*available*: visitors do not see them and routing gives them nothing.

Visitors are told "online" only while some agent is online *and* the workspace is
inside its business hours (`visitor_view`). Chat announces each change of that view
to every open widget; `Presence` remembers what it last announced per workspace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.chat.model import person
from shared.hours import is_open
from shared.schema.live import MAX_SHOWN, Face, VisitorPresence
from shared.workspaces import Workspace

TTL_SECONDS = 45.0
# after a start, wait out one heartbeat period (15 s) before announcing anyone gone:
# until then an empty picture means "not heard yet", not "nobody there"
WARMUP_SECONDS = 20.0
# the dashboard signs an agent off when their last socket closes, which every page load
# does for a moment: a sign-off takes effect after this, unless a heartbeat comes first
SIGN_OFF_GRACE_SECONDS = 5.0


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
        self,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        warmup: float = WARMUP_SECONDS,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sign_off_grace: float = SIGN_OFF_GRACE_SECONDS,
    ) -> None:
        """`clock` times heartbeats (monotonic); `wall_clock` is what business hours read."""
        self.ttl = ttl
        self.clock = clock
        self.wall_clock = wall_clock
        self.warmup = warmup
        self.sign_off_grace = sign_off_grace
        self._started = clock()
        self._by_ws: dict[str, dict[str, Agent]] = {}
        self._announced: dict[str, object] = {}

    def heartbeat(self, workspace_id: str, payload: dict[str, Any], linger: float = 0.0) -> bool:
        """Record a heartbeat; True when the workspace's set of online agents changed now
        (a sign-off within its grace changes it later, through `expire`). `linger`: how
        long an agent stays online with no dashboard open (the workspace's auto-away)."""
        agents = self._by_ws.setdefault(workspace_id, {})
        raw = {
            "id": payload.get("agent_id"),
            "name": payload.get("name"),
            "avatar": payload.get("avatar"),
        }
        who = person(raw, "agent")
        if payload.get("online") is False:
            return self._sign_off(agents, who["id"], linger)
        changed = who["id"] not in agents
        expires = self.clock() + max(self.ttl, linger)
        agents[who["id"]] = Agent(who["id"], who["name"], who["avatar"], expires)
        return changed

    def _sign_off(self, agents: dict[str, Agent], agent_id: str, linger: float) -> bool:
        agent = agents.get(agent_id)
        if agent is None:
            return False
        grace = max(self.sign_off_grace, linger)
        if grace <= 0:
            del agents[agent_id]
            return True
        agent.expires = min(agent.expires, self.clock() + grace)
        return False

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

    def available(self, workspace: Workspace) -> list[Agent]:
        """Online agents who have not set themselves Away: who visitors see, who routing
        gives conversations to."""
        away = set(workspace.away_agents)
        return [a for a in self.online(workspace.id) if a.id not in away]

    # --- what visitors were last told -------------------------------------------------
    def settled(self) -> bool:
        """True once every online agent has had time to send a heartbeat since the start."""
        return self.clock() - self._started >= self.warmup

    def is_news(self, workspace_id: str, frame: object) -> bool:
        return self._announced.get(workspace_id) != frame

    def announced(self, workspace_id: str, frame: object) -> None:
        self._announced[workspace_id] = frame


def visitor_view(
    agents: list[Agent], workspace: Workspace, at: datetime, reply_minutes: int | None = None
) -> dict[str, Any]:
    """What visitors are told (`presence.get`): outside business hours nobody is online.
    `reply_minutes`: the median first response (services/chat/reply_time.py)."""
    open_now = is_open(workspace.business_hours, at)
    shown = agents if open_now else []
    return {
        "online_agents": len(shown),
        "agents": [a.public() for a in shown],
        "away_message": workspace.away_message,
        "open": open_now,
        "reply_minutes": reply_minutes,
    }


def visitor_frame(view: dict[str, Any]) -> VisitorPresence:
    """The live `presence` frame for widgets: no agent ids, at most five faces."""
    return VisitorPresence(
        online_agents=view["online_agents"],
        agents=[Face(name=a["name"], avatar=a["avatar"]) for a in view["agents"][:MAX_SHOWN]],
        away_message=view["away_message"],
        open=view["open"],
        reply_minutes=view.get("reply_minutes"),
    )

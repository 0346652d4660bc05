"""Signed-in sessions for every request, read from the database at most every `TTL` seconds.

Each request needs its session, its agent and the agent's workspaces (the agent as
seen in the workspace the session chose: `in_workspace`): three reads before this
cache, on every send, read mark and page. An entry lives `TTL` (2 s). A sign-out, a
disabled agent, or an agent removed from a workspace or given another role in it
forgets its entries at once, here and on every replica (the hub hears
`P.dashboard.sessions.ended`, services/dashboard/agent_ws.py); a lost announcement is
bounded by the TTL, so a session ended elsewhere works at most 2 s longer. A look-up
that was reading while an entry was forgotten is not kept (it may have read the
session just before it ended). Unknown tokens are never cached: each costs its read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.dashboard.store import Store, digest
from services.dashboard.store.memberships import home_of, home_role
from shared import clock

TTL = 2.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class SignedIn:
    session: dict[str, Any]
    agent: dict[str, Any]
    until: float  # monotonic


def in_workspace(
    agent: dict[str, Any], session: dict[str, Any], memberships: list[dict[str, str]]
) -> dict[str, Any]:
    """The agent as this session sees them: `workspace_id` and `role` those of the
    workspace the session chose (services/dashboard/workspaces.py), if the agent is
    still a member of it, else of their home workspace; `memberships` lists them all."""
    roles = {m["workspace_id"]: m["role"] for m in memberships}
    chosen = session.get("workspace_id")
    if not isinstance(chosen, str) or chosen not in roles:
        chosen = home_of(agent)
    return {
        **agent,
        "home_workspace_id": home_of(agent),
        "home_role": home_role(agent),
        "workspace_id": chosen,
        "role": roles.get(chosen, home_role(agent)),
        "memberships": memberships,
    }


class SessionCache:
    def __init__(
        self,
        store: Store,
        ttl: float = TTL,
        max_entries: int = MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.max_entries = max_entries
        self.monotonic = monotonic
        self._entries: dict[str, SignedIn] = {}
        self._forgotten = 0  # counts forgets: a look-up spanning one keeps nothing

    async def signed_in(self, token: str) -> SignedIn | None:
        """The live session this cookie token names, with its active agent; None if not."""
        key = digest(token)
        entry = self._entries.get(key)
        if entry is not None and entry.until > self.monotonic():
            if entry.session["expires_at"] > clock.now():
                return entry
        self._entries.pop(key, None)
        forgotten = self._forgotten
        found = await self._read(token)
        if found is not None and forgotten == self._forgotten:
            self._keep(key, found)
        return found

    async def _read(self, token: str) -> SignedIn | None:
        session = await self.store.session(token)
        if session is None:
            return None
        agent = await self.store.agent(session["agent_id"])
        if agent is None or not agent.get("active", True):
            return None
        memberships = await self.store.memberships_of(agent)
        return SignedIn(
            session, in_workspace(agent, session, memberships), self.monotonic() + self.ttl
        )

    def _keep(self, key: str, entry: SignedIn) -> None:
        if len(self._entries) >= self.max_entries:  # the oldest first
            del self._entries[next(iter(self._entries))]
        self._entries[key] = entry

    def forget(self, session_id: str | None = None, agent_id: str | None = None) -> None:
        """A session ended (by its stored id) or an agent changed: read them again."""
        self._forgotten += 1
        for key, entry in list(self._entries.items()):
            if key == session_id or (agent_id is not None and entry.agent["_id"] == agent_id):
                del self._entries[key]

"""Which workspaces an agent belongs to, with their role in each.

An agent's own document names their *home* workspace and role (where they were created
or invited: `workspace_id`, `role`); every other workspace they were added to is one
row of `memberships` (`_id` `<workspace>:<agent>`, its role). Removing a row removes the
agent from that workspace at once (the session cache is told, services/dashboard/sessions.py).
"""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from shared import clock
from shared.workspaces import DEFAULT_WORKSPACE_ID

MAX_MEMBERSHIPS = 200


def home_of(agent: dict[str, Any]) -> str:
    """The workspace the agent's own document names (`home_workspace_id` on a session's copy)."""
    return str(agent.get("home_workspace_id") or agent.get("workspace_id") or DEFAULT_WORKSPACE_ID)


def home_role(agent: dict[str, Any]) -> str:
    return str(agent.get("home_role") or agent.get("role") or "agent")


def _row_id(workspace_id: str, agent_id: str) -> str:
    return f"{workspace_id}:{agent_id}"


class Conflict(Exception):
    """The write would break a rule (duplicate email, last admin, already a member...)."""


class Memberships:
    db: Any

    async def memberships_of(self, agent: dict[str, Any]) -> list[dict[str, str]]:
        """`[{workspace_id, role}]`: the home workspace first, then the others by when added."""
        rows = (
            await self.db.memberships.find({"agent_id": agent["_id"]})
            .sort("created_at", 1)
            .to_list(MAX_MEMBERSHIPS)
        )
        home = home_of(agent)
        found = [{"workspace_id": home, "role": home_role(agent)}]
        found += [
            {"workspace_id": r["workspace_id"], "role": r["role"]}
            for r in rows
            if r["workspace_id"] != home
        ]
        return found

    async def role_in(self, agent: dict[str, Any], workspace_id: str) -> str | None:
        """The agent's role in the workspace; None when they are not a member."""
        if home_of(agent) == workspace_id:
            return home_role(agent)
        row = await self.db.memberships.find_one({"_id": _row_id(workspace_id, agent["_id"])})
        return None if row is None else str(row["role"])

    async def add_member(
        self, workspace_id: str, agent: dict[str, Any], role: str, added_by: str
    ) -> None:
        if home_of(agent) == workspace_id:
            raise Conflict("this agent is already a member of this workspace")
        try:
            await self.db.memberships.insert_one(
                {
                    "_id": _row_id(workspace_id, agent["_id"]),
                    "workspace_id": workspace_id,
                    "agent_id": agent["_id"],
                    "role": role,
                    "added_by": added_by,
                    "created_at": clock.now(),
                }
            )
        except DuplicateKeyError as exc:
            raise Conflict("this agent is already a member of this workspace") from exc

    async def remove_member(self, workspace_id: str, agent_id: str) -> None:
        """Only an added membership goes; a home workspace's agent is disabled instead."""
        row = await self.db.memberships.find_one({"_id": _row_id(workspace_id, agent_id)})
        if row is None:
            raise Conflict("not an added member of this workspace (disable the agent instead)")
        if row["role"] == "admin":
            await self.keep_an_admin(workspace_id, agent_id)
        await self.db.memberships.delete_one({"_id": _row_id(workspace_id, agent_id)})

    async def set_member_role(self, workspace_id: str, agent_id: str, role: str) -> bool:
        """Change an added membership's role; False when the agent has none here."""
        if role != "admin":
            row = await self.db.memberships.find_one({"_id": _row_id(workspace_id, agent_id)})
            if row is None:
                return False
            if row["role"] == "admin":
                await self.keep_an_admin(workspace_id, agent_id)
        result = await self.db.memberships.update_one(
            {"_id": _row_id(workspace_id, agent_id)}, {"$set": {"role": role}}
        )
        return bool(result.matched_count)

    async def added_members(self, workspace_id: str) -> dict[str, str]:
        """Agent id -> role, for the agents added to this workspace (not its home agents)."""
        rows = await self.db.memberships.find({"workspace_id": workspace_id}).to_list(5000)
        return {r["agent_id"]: r["role"] for r in rows}

    async def keep_an_admin(self, workspace_id: str, agent_id: str) -> None:
        """Conflict unless another active admin (home or added) would remain."""
        homes = await self.db.agents.count_documents(
            {
                "workspace_id": workspace_id,
                "role": "admin",
                "active": True,
                "_id": {"$ne": agent_id},
            }
        )
        if homes:
            return
        added = [a for a, r in (await self.added_members(workspace_id)).items() if r == "admin"]
        others = [a for a in added if a != agent_id]
        if others and await self.db.agents.count_documents(
            {"_id": {"$in": others}, "active": True}
        ):
            return
        raise Conflict("the workspace must keep at least one active admin")

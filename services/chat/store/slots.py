"""Each agent's slots: the conversations routing counts against their capacity.

One document per (workspace, agent): `held` lists the conversation ids, `open` counts
them. A slot is taken with one guarded update (`open < capacity` and the id not held
yet), so replicas racing for the last slot cannot both win, and given back with one
guarded update (the id held), so a release twice changes nothing.
"""

from __future__ import annotations

from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo.errors import DuplicateKeyError

QUEUE_ORDER = [("created_at", 1), ("_id", 1)]


def slot_id(workspace_id: str, agent_id: str) -> str:
    return f"{workspace_id}:{agent_id}"


class Slots:
    conversations: AsyncIOMotorCollection
    agent_slots: AsyncIOMotorCollection

    async def _ensure_slots(self, workspace_id: str, agent_id: str) -> None:
        fresh = {"workspace_id": workspace_id, "agent_id": agent_id, "held": [], "open": 0}
        try:
            await self.agent_slots.update_one(
                {"_id": slot_id(workspace_id, agent_id)}, {"$setOnInsert": fresh}, upsert=True
            )
        except DuplicateKeyError:  # another replica created it at the same moment
            pass

    async def take_slot(
        self, workspace_id: str, agent_id: str, conversation_id: str, capacity: int | None
    ) -> bool:
        """Hold the conversation in one of the agent's slots; False when they are full
        (`capacity` None: no limit, for an assignment made by hand)."""
        await self._ensure_slots(workspace_id, agent_id)
        query: dict[str, Any] = {
            "_id": slot_id(workspace_id, agent_id),
            "held": {"$ne": conversation_id},
        }
        if capacity is not None:
            query["open"] = {"$lt": capacity}
        result = await self.agent_slots.update_one(
            query, {"$push": {"held": conversation_id}, "$inc": {"open": 1}}
        )
        return result.modified_count == 1

    async def release_slot(self, workspace_id: str, agent_id: str, conversation_id: str) -> None:
        await self.agent_slots.update_one(
            {"_id": slot_id(workspace_id, agent_id), "held": conversation_id},
            {"$pull": {"held": conversation_id}, "$inc": {"open": -1}},
        )

    async def slots_of(self, workspace_id: str, agent_ids: list[str]) -> dict[str, list[str]]:
        """Agent id -> the conversation ids held in their slots (none: an empty list)."""
        wanted = [slot_id(workspace_id, a) for a in agent_ids]
        found: dict[str, list[str]] = {a: [] for a in agent_ids}
        async for doc in self.agent_slots.find({"_id": {"$in": wanted}}):
            found[doc["agent_id"]] = list(doc.get("held") or [])
        return found

    async def routing_states(
        self, workspace_id: str, conversation_ids: list[str]
    ) -> dict[str, dict[str, Any]]:
        """These conversations' `status` and `assignee_id`, by id (a missing one is absent)."""
        if not conversation_ids:
            return {}
        cursor = self.conversations.find(
            {"_id": {"$in": conversation_ids}, "workspace_id": workspace_id},
            projection={"assignee_id": 1, "status": 1},
        )
        return {d["_id"]: d async for d in cursor}

    async def queue(self, workspace_id: str, limit: int) -> list[dict[str, Any]]:
        """Open unassigned conversations, oldest first: the ones waiting for an agent."""
        query = {"workspace_id": workspace_id, "assignee_id": None, "status": "open"}
        cursor = self.conversations.find(query, projection={"_id": 1, "created_at": 1})
        return await cursor.sort(QUEUE_ORDER).limit(limit).to_list(None)

"""A deleted person's conversations and everything hanging off them, erased."""

from __future__ import annotations

from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection

from services.chat.store.schema import by_id


class Erasure:
    conversations: AsyncIOMotorCollection
    messages: AsyncIOMotorCollection
    reads: AsyncIOMotorCollection
    agent_slots: AsyncIOMotorCollection

    async def conversations_of_person(
        self,
        workspace_id: str,
        profile_ids: list[str],
        distinct_ids: list[str],
        visitor_ids: list[str],
    ) -> list[dict[str, Any]]:
        """Every conversation naming one of the ids (equality queries: the indexes' keys)."""
        found: dict[str, dict[str, Any]] = {}
        keys = (
            ("profile_id", profile_ids),
            ("distinct_id", distinct_ids),
            ("visitor_id", visitor_ids),
        )
        for field, values in keys:
            if not values:
                continue
            query = {"workspace_id": workspace_id, field: {"$in": values}}
            async for doc in self.conversations.find(query, projection={"assignee_id": 1}):
                found[doc["_id"]] = doc
        return list(found.values())

    async def erase_conversations(
        self, workspace_id: str, conversations: list[dict[str, Any]]
    ) -> dict[str, int]:
        """Messages, read marks, agents' slots, then the conversations (last: an erase cut
        short is found again by the next delivery of the fact)."""
        ids = [c["_id"] for c in conversations]
        if not ids:
            return {}
        scope = {"workspace_id": workspace_id, "conversation_id": {"$in": ids}}
        messages = await self.messages.delete_many(scope)
        reads = await self.reads.delete_many(scope)
        for agent_id in sorted({c["assignee_id"] for c in conversations if c.get("assignee_id")}):
            for cid in ids:
                await self.agent_slots.update_one(
                    {"_id": f"{workspace_id}:{agent_id}", "held": cid},
                    {"$pull": {"held": cid}, "$inc": {"open": -1}},
                )
        gone = await self.conversations.delete_many(by_id(workspace_id, {"$in": ids}))
        return {
            "messages": messages.deleted_count,
            "reads": reads.deleted_count,
            "conversations": gone.deleted_count,
        }

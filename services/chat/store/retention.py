"""Retention's seam in the chat database: resolved conversations with no activity since
a moment, found and removed with their messages and read marks, the counts moved."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection

from services.chat.store.counts import Counts, born
from services.chat.store.schema import by_id


class Retention(Counts):
    conversations: AsyncIOMotorCollection
    messages: AsyncIOMotorCollection
    reads: AsyncIOMotorCollection

    def _old_resolved(self, workspace_id: str, before: datetime) -> dict[str, Any]:
        # the (workspace_id, status, last_activity_at) index: one range
        return {
            "workspace_id": workspace_id,
            "status": "resolved",
            "last_activity_at": {"$lt": before},
        }

    async def old_resolved(
        self, workspace_id: str, before: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """At most `limit` resolved conversations with no activity since `before`."""
        found = self.conversations.find(
            self._old_resolved(workspace_id, before),
            projection={"status": 1, "assignee_id": 1},
        ).limit(limit)
        return await found.to_list(None)

    async def sweep_resolved(
        self, workspace_id: str, found: list[dict[str, Any]], before: datetime
    ) -> dict[str, int]:
        """Each conversation removed only if still resolved and still quiet (one reopened
        meanwhile stays, with its messages); then the messages and read marks of those
        that went, and the inbox counts moved by them."""
        guard = self._old_resolved(workspace_id, before)
        gone = []
        for doc in found:
            query = {**by_id(workspace_id, doc["_id"]), **guard}
            if (await self.conversations.delete_one(query)).deleted_count:
                gone.append(doc)
        if not gone:
            return {"conversations": 0, "messages": 0}
        scope = {"workspace_id": workspace_id, "conversation_id": {"$in": [d["_id"] for d in gone]}}
        messages = await self.messages.delete_many(scope)
        await self.reads.delete_many(scope)
        await self.add_counts(workspace_id, Counter({k: -n for k, n in born(gone).items()}))
        return {"conversations": len(gone), "messages": int(messages.deleted_count)}

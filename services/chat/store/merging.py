"""Merging one conversation's thread into another's (services/chat/thread_merge.py): the
claim on the source, its messages, a block of the target's seqs, the copies' count."""

from __future__ import annotations

from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo import ASCENDING as ASC

from services.chat.store.schema import alloc_field, by_id
from shared import clock


class Merging:
    conversations: AsyncIOMotorCollection
    messages: AsyncIOMotorCollection

    async def claim_merge(
        self, workspace_id: str, source_id: str, target_id: str
    ) -> dict[str, Any] | None:
        """Compare-and-set: mark the source merged into the target (and resolved) if it is
        merged into nothing yet; the source after, or None when another claim was first."""
        at = clock.now()
        result = await self.conversations.update_one(
            {**by_id(workspace_id, source_id), "merged_into": None},
            {
                "$set": {
                    "merged_into": target_id,
                    "merge_copied": False,
                    "merge_started_at": at,
                    "status": "resolved",
                    "snoozed_until": None,
                    "updated_at": at,
                }
            },
        )
        if result.modified_count == 0:
            return None
        return await self.conversations.find_one(by_id(workspace_id, source_id))

    async def all_messages(self, workspace_id: str, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's messages ascending by seq, internal ones too."""
        query = {"workspace_id": workspace_id, "conversation_id": conversation_id}
        return await self.messages.find(query).sort("seq", ASC).to_list(None)

    async def reserve_block(self, workspace_id: str, conversation_id: str, n: int) -> int:
        """Take `n` seqs after the conversation's last one, atomically; the first of them."""
        name = alloc_field()
        top = {"$add": ["$last_seq", n]}
        await self.conversations.update_one(
            by_id(workspace_id, conversation_id), [{"$set": {"last_seq": top, name: top}}]
        )
        doc = await self.conversations.find_one(
            by_id(workspace_id, conversation_id), projection={name: 1}
        )
        await self.conversations.update_one(
            by_id(workspace_id, conversation_id), {"$unset": {name: ""}}
        )
        if not doc or not isinstance(doc.get(name), int):
            raise RuntimeError("a seq reservation was not found")
        return int(doc[name]) - n + 1

    async def count_copies(
        self, workspace_id: str, conversation_id: str, visitor_messages: int
    ) -> dict[str, Any] | None:
        """Count copied visitor messages in (unread = count - read mark); the target after."""
        await self.conversations.update_one(
            by_id(workspace_id, conversation_id),
            {"$inc": {"visitor_count": visitor_messages}, "$set": {"updated_at": clock.now()}},
        )
        return await self.conversations.find_one(by_id(workspace_id, conversation_id))

    async def merge_copied(self, workspace_id: str, source_id: str) -> dict[str, Any] | None:
        await self.conversations.update_one(
            by_id(workspace_id, source_id), {"$set": {"merge_copied": True}}
        )
        return await self.conversations.find_one(by_id(workspace_id, source_id))

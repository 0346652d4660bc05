"""A deleted person's mail rows: their conversations' outbox, pending and thread records."""

from __future__ import annotations

from motor.motor_asyncio import AsyncIOMotorCollection

from services.mail.store.pending import PendingBox


class Erasure:
    outbox: AsyncIOMotorCollection
    threads: AsyncIOMotorCollection
    unseen: PendingBox
    unread: PendingBox

    async def erase_conversations(self, workspace_id: str, ids: list[str]) -> dict[str, int]:
        scope = {"workspace_id": workspace_id, "conversation_id": {"$in": ids}}
        counts = {
            "outbox": (await self.outbox.delete_many(scope)).deleted_count,
            "threads": (await self.threads.delete_many(scope)).deleted_count,
        }
        for name, box in (("pending", self.unseen), ("agent_pending", self.unread)):
            result = await box.pending.delete_many(
                {"_id": {"$in": ids}, "workspace_id": workspace_id}
            )
            counts[name] = result.deleted_count
        return counts

"""The outbox: every email recorded before it is sent, under its idempotency key."""

from __future__ import annotations

from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo.errors import DuplicateKeyError

from shared import clock


class Outbox:
    outbox: AsyncIOMotorCollection
    suppressed: AsyncIOMotorCollection

    async def record(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Insert the email as `sending`; an email recorded before under the key wins."""
        try:
            await self.outbox.insert_one({**doc, "status": "sending", "created_at": clock.now()})
        except DuplicateKeyError:
            earlier: dict[str, Any] | None = await self.outbox.find_one({"_id": doc["_id"]})
            if earlier is not None:
                return earlier
        return {**doc, "status": "sending"}

    async def mark(self, key: str, status: str, detail: str | None = None) -> None:
        await self.outbox.update_one(
            {"_id": key}, {"$set": {"status": status, "detail": detail, "done_at": clock.now()}}
        )

    # --- unsubscribes ------------------------------------------------------------------
    async def suppress(self, workspace_id: str, email: str) -> None:
        await self.suppressed.update_one(
            {"workspace_id": workspace_id, "email": email},
            {"$setOnInsert": {"at": clock.now()}},
            upsert=True,
        )

    async def is_suppressed(self, workspace_id: str, email: str) -> bool:
        found = await self.suppressed.find_one({"workspace_id": workspace_id, "email": email})
        return found is not None

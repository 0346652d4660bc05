"""The outbox of deliveries and the attempt log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo.errors import BulkWriteError

from shared import clock

DUPLICATE_KEY = 11000


class Deliveries:
    deliveries: AsyncIOMotorCollection
    attempts: AsyncIOMotorCollection

    async def enqueue(self, docs: list[dict[str, Any]]) -> int:
        """Insert the deliveries; those recorded before (a redelivered fact) stay as they are.
        How many were new."""
        if not docs:
            return 0
        try:
            result = await self.deliveries.insert_many(docs, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return len(docs) - len(errors)

    async def claim_due(
        self, lease_s: float, limit: int, busy: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Lease due deliveries, none of the `busy` endpoints' (several replicas share):
        a read, then one conditional update each (no `find_one_and_update`: SecantusDB
        scans for it)."""
        now = clock.now()
        free = {"$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]}
        query: dict[str, Any] = {"status": "pending", "next_at": {"$lte": now}, **free}
        if busy:
            query["endpoint_id"] = {"$nin": busy}
        cursor = self.deliveries.find(query)
        claimed = []
        for doc in await cursor.sort("next_at", 1).to_list(limit):
            taken = await self.deliveries.update_one(
                {"_id": doc["_id"], "status": "pending", **free},
                {"$set": {"lease_until": now + timedelta(seconds=lease_s)}},
            )
            if taken.modified_count == 1:
                claimed.append(doc)
        return claimed

    async def release(self, delivery_id: str) -> None:
        """Give a lease back unused (the endpoint had no room this pass)."""
        await self.deliveries.update_one({"_id": delivery_id}, {"$set": {"lease_until": None}})

    async def settle(
        self,
        delivery_id: str,
        status: str,
        next_at: datetime | None,
        last: dict[str, Any],
        tried_from: datetime | None = None,
    ) -> None:
        """Record an attempt's outcome; `tried_from` is when this window's first try was."""
        fields = {"status": status, "next_at": next_at, "lease_until": None, "last": last}
        if tried_from is not None:
            fields["tried_from"] = tried_from
        await self.deliveries.update_one(
            {"_id": delivery_id},
            {
                "$set": fields,
                "$inc": {"attempts": 1},
            },
        )

    async def log_attempt(self, doc: dict[str, Any]) -> None:
        await self.attempts.insert_one(doc)

    async def delivery(self, workspace_id: str, delivery_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.deliveries.find_one(
            {"_id": delivery_id, "workspace_id": workspace_id}
        )
        return found

    async def redeliver(self, workspace_id: str, delivery_id: str) -> bool:
        """Send again now, with a fresh retry window (same `webhook-id`, same body)."""
        now = clock.now()
        result = await self.deliveries.update_one(
            {"_id": delivery_id, "workspace_id": workspace_id},
            {
                "$set": {
                    "status": "pending",
                    "next_at": now,
                    "first_at": now,
                    "tried_from": None,
                    "lease_until": None,
                }
            },
        )
        return result.matched_count == 1

    async def abandon_pending(self, endpoint_id: str, reason: str) -> None:
        """A disabled or deleted endpoint: its waiting deliveries will not go out."""
        await self.deliveries.update_many(
            {"endpoint_id": endpoint_id, "status": "pending"},
            {"$set": {"status": "failed", "next_at": None, "last.error": reason}},
        )

    async def recent_deliveries(self, endpoint_id: str, limit: int) -> list[dict[str, Any]]:
        cursor = self.deliveries.find({"endpoint_id": endpoint_id}).sort("first_at", -1)
        return await cursor.to_list(limit)

    async def recent_attempts(self, endpoint_id: str, limit: int) -> list[dict[str, Any]]:
        cursor = self.attempts.find({"endpoint_id": endpoint_id}).sort("at", -1)
        return await cursor.to_list(limit)

    async def forget_endpoint(self, endpoint_id: str) -> None:
        await self.deliveries.delete_many({"endpoint_id": endpoint_id})
        await self.attempts.delete_many({"endpoint_id": endpoint_id})

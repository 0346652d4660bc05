"""Sign-in attempt counters (login_failures), one document per key, expiring with its window.

Keys are an email or an IP: across workspaces by nature (a sign-in names no workspace
yet). `find_one_and_update` stays on every dialect: each parallel attempt must see its
own count, and the collection is tiny (TTL), so SecantusDB's scan for it costs little.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError


class LoginCounters:
    def __init__(self, db: AsyncIOMotorDatabase) -> None:
        self.col = db.login_failures

    async def count(self, key: str, at: datetime, window: timedelta) -> dict:
        """Count one attempt on `key`; its document after (`count`, `expires_at`)."""
        while True:
            # the TTL monitor runs about once a minute: clear a stale window ourselves
            await self.col.delete_one({"_id": key, "expires_at": {"$lte": at}})
            try:
                await self.col.update_one(
                    {"_id": key},
                    {"$setOnInsert": {"count": 0, "expires_at": at + window}},
                    upsert=True,
                )
            except DuplicateKeyError:
                pass  # a parallel attempt opened the window first
            # a separate $inc (no upsert) so parallel attempts each see their own count
            doc = await self.col.find_one_and_update(
                {"_id": key}, {"$inc": {"count": 1}}, return_document=ReturnDocument.AFTER
            )
            if doc is not None:
                return doc
            # the window expired between the two steps: open a fresh one

    async def uncount(self, key: str) -> None:
        await self.col.update_one({"_id": key, "count": {"$gt": 0}}, {"$inc": {"count": -1}})

    async def clear(self, key: str) -> None:
        await self.col.delete_one({"_id": key})

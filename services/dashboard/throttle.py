"""Login throttling: failed sign-ins counted per email and per IP in Mongo.

Counting in the database (not in memory) makes the limit hold across dashboard
replicas and restarts. A locked key refuses even the right password until its
window ends, so guessing cannot continue at a slower pace through the lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from motor.motor_asyncio import AsyncIOMotorDatabase

from services.dashboard.store import now


@dataclass(frozen=True)
class Limits:
    per_email: int = 5
    per_ip: int = 20
    window: timedelta = timedelta(minutes=15)


class LoginThrottle:
    def __init__(self, db: AsyncIOMotorDatabase, limits: Limits | None = None) -> None:
        self.col = db.login_failures
        self.limits = limits or Limits()

    def _keys(self, email: str, ip: str) -> dict[str, int]:
        return {
            f"email:{email.strip().lower()[:254]}": self.limits.per_email,
            f"ip:{ip}": self.limits.per_ip,
        }

    async def retry_after(self, email: str, ip: str) -> int:
        """Seconds until a sign-in may be tried again; 0 when it may be tried now."""
        keys = self._keys(email, ip)
        wait = 0.0
        async for doc in self.col.find({"_id": {"$in": list(keys)}}):
            remaining = (doc["expires_at"] - now()).total_seconds()
            if doc["count"] >= keys[doc["_id"]] and remaining > 0:
                wait = max(wait, remaining)
        return math.ceil(wait)

    async def failed(self, email: str, ip: str) -> None:
        for key in self._keys(email, ip):
            # the TTL monitor runs about once a minute: clear a stale window ourselves
            await self.col.delete_one({"_id": key, "expires_at": {"$lte": now()}})
            await self.col.update_one(
                {"_id": key},
                {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": now() + self.limits.window}},
                upsert=True,
            )

    async def succeeded(self, email: str) -> None:
        await self.col.delete_one({"_id": f"email:{email.strip().lower()[:254]}"})

"""Login throttling: sign-in attempts counted per email and per IP in Mongo.

Counting in the database (not in memory) makes the limit hold across dashboard
replicas and restarts. An attempt is counted atomically *before* its password is
checked (scrypt is slow), so 40 guesses sent at once meet the limit exactly like 40
sent one after another; a success gives its count back afterwards. A locked key
refuses even the right password until its window ends, so guessing cannot continue
at a slower pace through the lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.dashboard.store import now


@dataclass(frozen=True)
class Limits:
    per_email: int = 5
    per_ip: int = 20
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Verdict:
    wait: int  # seconds until sign-in may be tried again; 0: go on and check the password
    locked_now: list[str]  # the keys this very attempt locked (each is locked once a window)


class LoginThrottle:
    def __init__(self, db: AsyncIOMotorDatabase, limits: Limits | None = None) -> None:
        self.col = db.login_failures
        self.limits = limits or Limits()

    @staticmethod
    def email_key(email: str) -> str:
        return f"email:{email.strip().lower()[:254]}"

    def _keys(self, email: str, ip: str) -> dict[str, int]:
        return {self.email_key(email): self.limits.per_email, f"ip:{ip}": self.limits.per_ip}

    async def attempt(self, email: str, ip: str) -> Verdict:
        """Count one attempt, email first then IP; say whether it is over a limit.

        An attempt refused by one key does not count against the next one, and one the
        IP refuses gives the email its count back: like sequential sign-ins, where a
        refused attempt was never counted, so parallel guesses meet the same limits.
        """
        counted: list[str] = []
        for key, limit in self._keys(email, ip).items():
            doc = await self._count(key)
            remaining = (doc["expires_at"] - now()).total_seconds()
            if doc["count"] > limit and remaining > 0:
                for earlier in counted:
                    await self._uncount(earlier)
                locked_now = [key] if doc["count"] == limit + 1 else []
                return Verdict(math.ceil(remaining), locked_now)
            counted.append(key)
        return Verdict(0, [])

    async def _count(self, key: str) -> dict:
        while True:
            # the TTL monitor runs about once a minute: clear a stale window ourselves
            await self.col.delete_one({"_id": key, "expires_at": {"$lte": now()}})
            try:
                await self.col.update_one(
                    {"_id": key},
                    {"$setOnInsert": {"count": 0, "expires_at": now() + self.limits.window}},
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

    async def _uncount(self, key: str) -> None:
        await self.col.update_one({"_id": key, "count": {"$gt": 0}}, {"$inc": {"count": -1}})

    async def succeeded(self, email: str, ip: str) -> None:
        """The password was right: clear the email's count and give the IP its attempt back."""
        await self.col.delete_one({"_id": self.email_key(email)})
        await self._uncount(f"ip:{ip}")

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

from services.dashboard.store.logins import LoginCounters
from shared import clock


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
        self.counters = LoginCounters(db)
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
            doc = await self.counters.count(key, clock.now(), self.limits.window)
            remaining = (doc["expires_at"] - clock.now()).total_seconds()
            if doc["count"] > limit and remaining > 0:
                for earlier in counted:
                    await self._uncount(earlier)
                locked_now = [key] if doc["count"] == limit + 1 else []
                return Verdict(math.ceil(remaining), locked_now)
            counted.append(key)
        return Verdict(0, [])

    async def _uncount(self, key: str) -> None:
        await self.counters.uncount(key)

    async def succeeded(self, email: str, ip: str) -> None:
        """The password was right: clear the email's count and give the IP its attempt back."""
        await self.counters.clear(self.email_key(email))
        await self._uncount(f"ip:{ip}")

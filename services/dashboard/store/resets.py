"""Password resets by email: a single-use, expiring link; only its digest is stored."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase

from shared import clock
from shared.security import hash_password

RESET_TTL = timedelta(hours=1)


class Resets:
    db: AsyncIOMotorDatabase

    async def create_reset(self, agent: dict[str, Any], digest_of: Any) -> str:
        token = secrets.token_urlsafe(32)
        await self.db.password_resets.insert_one(
            {
                "_id": digest_of(token),
                "agent_id": agent["_id"],
                "workspace_id": agent.get("workspace_id"),
                "created_at": clock.now(),
                "expires_at": clock.now() + RESET_TTL,
                "used_at": None,
            }
        )
        return token

    async def reset_of(self, token: str, digest_of: Any) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.db.password_resets.find_one(
            {"_id": digest_of(token)}
        )
        if doc is None or doc["used_at"] is not None or doc["expires_at"] <= clock.now():
            return None
        return doc

    async def use_reset(self, token: str, password: str, digest_of: Any) -> str | None:
        """Use the link once (the conditional update decides the race): set the password,
        end every session of the agent; the agent id, or None if the link is spent."""
        doc = await self.reset_of(token, digest_of)
        if doc is None:
            return None
        used = await self.db.password_resets.update_one(
            {"_id": doc["_id"], "used_at": None, "expires_at": {"$gt": clock.now()}},
            {"$set": {"used_at": clock.now()}},
        )
        if used.modified_count != 1:
            return None
        agent_id: str = doc["agent_id"]
        hashed = await asyncio.to_thread(hash_password, password)  # scrypt: off the loop
        await self.db.agents.update_one({"_id": agent_id}, {"$set": {"password_hash": hashed}})
        await self.db.sessions.delete_many({"agent_id": agent_id})
        return agent_id

"""Each agent's own settings: the name colleagues see, the time zone times are shown in,
their avatar (a re-encoded PNG and its version, services/dashboard/avatars.py), and a
password change that ends the agent's other sessions."""

from __future__ import annotations

import asyncio
import zoneinfo
from functools import lru_cache
from typing import Any

from services.dashboard.store.memberships import Memberships
from shared.security import check_password, hash_password

MAX_NAME = 80
DEFAULT_ZONE = "UTC"


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """Every IANA zone this Python knows, sorted (the select's options)."""
    return tuple(sorted(zoneinfo.available_timezones() | {DEFAULT_ZONE}))


def valid_zone(name: str) -> bool:
    return name in time_zones()


def zone_of(agent: dict[str, Any] | None) -> zoneinfo.ZoneInfo:
    """The agent's zone; UTC when they never chose one (or it left the tz database)."""
    name = (agent or {}).get("time_zone") or DEFAULT_ZONE
    try:
        return zoneinfo.ZoneInfo(name if valid_zone(name) else DEFAULT_ZONE)
    except zoneinfo.ZoneInfoNotFoundError:
        return zoneinfo.ZoneInfo(DEFAULT_ZONE)


class Profiles(Memberships):
    """An agent's own fields, whichever workspace they are working in (the caller passes
    the signed-in agent's id); an avatar is served to the workspaces they are a member of."""

    db: Any

    async def set_profile(
        self, workspace_id: str, agent_id: str, name: str, time_zone: str
    ) -> None:
        """Save the agent's name and zone; the caller checked both (clean_name, valid_zone)."""
        if not name or len(name) > MAX_NAME or not valid_zone(time_zone):
            raise ValueError("a name of 1 to 80 characters and a known time zone")
        await self.db.agents.update_one(
            {"_id": agent_id},
            {"$set": {"name": name, "time_zone": time_zone}},
        )

    async def set_avatar(self, workspace_id: str, agent_id: str, png: bytes, version: str) -> None:
        """Store the re-encoded PNG (never the upload) and its version on the agent."""
        await self.db.agents.update_one(
            {"_id": agent_id},
            {"$set": {"avatar_png": png, "avatar_version": version}},
        )

    async def remove_avatar(self, workspace_id: str, agent_id: str) -> None:
        await self.db.agents.update_one(
            {"_id": agent_id},
            {"$unset": {"avatar_png": "", "avatar_version": ""}},
        )

    async def avatar(self, workspace_id: str, agent_id: str, version: str) -> bytes | None:
        """The PNG of this version of the agent's avatar, or None (removed, or replaced)."""
        found = await self.db.agents.find_one(
            {"_id": agent_id, "avatar_version": version},
            {"avatar_png": 1, "workspace_id": 1},
        )
        if found is None or not await self.role_in(found, workspace_id):
            return None  # only a member of the workspace asking (home or added)
        png = found.get("avatar_png")
        return bytes(png) if png else None

    async def change_password(
        self, agent_id: str, current: str, new: str, keep_session: str
    ) -> list[str] | None:
        """Set a new password if `current` is right, and end every session of the agent
        but `keep_session` (a stored session id). The ended sessions' ids, or None when
        the current password is wrong."""
        agent = await self.db.agents.find_one({"_id": agent_id}, {"password_hash": 1})
        if agent is None:
            return None
        # scrypt takes tens of milliseconds: keep it off the event loop
        if not await asyncio.to_thread(check_password, current, agent["password_hash"]):
            return None
        hashed = await asyncio.to_thread(hash_password, new)
        await self.db.agents.update_one({"_id": agent_id}, {"$set": {"password_hash": hashed}})
        others = {"agent_id": agent_id, "_id": {"$ne": keep_session}}
        ended = [
            doc["_id"] for doc in await self.db.sessions.find(others, {"_id": 1}).to_list(None)
        ]
        await self.db.sessions.delete_many(others)
        return ended

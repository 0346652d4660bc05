"""The read side the profiles API and the dashboard need: look-ups, search, event pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection


class Queries:
    persons: AsyncIOMotorCollection
    visitors: AsyncIOMotorCollection
    dids: AsyncIOMotorCollection
    events: AsyncIOMotorCollection

    async def person(self, workspace_id: str, person_id: str) -> dict[str, Any] | None:
        """The stored person (merged away or not), or None."""
        return await self.persons.find_one({"_id": person_id, "workspace_id": workspace_id})

    async def persons_with_user_id(
        self, workspace_id: str, user_id: str, limit: int
    ) -> list[dict[str, Any]]:
        query = {"workspace_id": workspace_id, "user_id": user_id}
        return await self.persons.find(query).limit(limit).to_list(None)

    async def persons_with_email(
        self, workspace_id: str, email: str, limit: int = 0
    ) -> list[dict[str, Any]]:
        """Persons holding `email` (0: no limit); exactly the index's keys: SecantusDB scans
        for anything more."""
        query = {"workspace_id": workspace_id, "emails": email}
        return await self.persons.find(query).limit(limit).to_list(None)

    async def persons_with_prefix(
        self, workspace_id: str, prefix: str, limit: int
    ) -> list[dict[str, Any]]:
        """Persons with a search key starting with `prefix`: a range, not a regex (which
        SecantusDB answers by scanning; a prefix range is as good on MongoDB)."""
        query = {"workspace_id": workspace_id, "search": {"$gte": prefix, "$lt": prefix + "\uffff"}}
        return await self.persons.find(query).limit(limit).to_list(None)

    async def live_persons_page(
        self, workspace_id: str, stage: str | None, after: tuple[str, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Live persons newest seen first, after the position (last_seen, id) if given."""
        query: dict[str, Any] = {"workspace_id": workspace_id, "merged_into": None}
        if stage:
            query["stage"] = stage
        if after is not None:
            query.update(_after(after))
        found = self.persons.find(query).sort([("last_seen", -1), ("_id", -1)]).limit(limit)
        return await found.to_list(None)

    async def events_page(
        self, workspace_id: str, person_ids: list[str], before: datetime | None, limit: int
    ) -> list[dict[str, Any]]:
        """The persons' events newest first, older than `before` if given."""
        query: dict[str, Any] = {"workspace_id": workspace_id, "person_id": {"$in": person_ids}}
        if before is not None:
            query["timestamp"] = {"$lt": before}
        found = self.events.find(query).sort([("timestamp", -1), ("_id", -1)]).limit(limit)
        return await found.to_list(None)

    async def dids_of(
        self, workspace_id: str, person_ids: list[str], limit: int = 0
    ) -> list[dict[str, Any]]:
        """The distinct id records pointing at the persons (0: no limit)."""
        query = {"workspace_id": workspace_id, "person_id": {"$in": person_ids}}
        return await self.dids.find(query).limit(limit).to_list(None)

    async def visitors_of(self, workspace_id: str, person_ids: list[str]) -> list[dict[str, Any]]:
        query = {"workspace_id": workspace_id, "person_id": {"$in": person_ids}}
        return await self.visitors.find(query).to_list(None)


def _after(position: tuple[str, str]) -> dict[str, Any]:
    last_seen, pid = position
    if not last_seen:
        return {"last_seen": None, "_id": {"$lt": pid}}
    return {
        "$or": [
            {"last_seen": {"$lt": last_seen}},
            {"last_seen": last_seen, "_id": {"$lt": pid}},
            {"last_seen": None},
        ]
    }

"""The companies collection (group calls) and the persons' side of it: who belongs where.

A company is keyed by (workspace, group id): its `_id` is derived from both, so two
workers creating it at once write the same document and one insert loses its race.
Its people are the live persons whose `company_ids` hold the group id (indexed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection, AsyncIOMotorDatabase

from services.identity.store.ids import derived_id

PEOPLE_PAGE = 100  # people one page of a company lists at most
PEOPLE_COUNTED = 10_000  # a count past it is shown as this many ("10000+")


class Companies:
    db: AsyncIOMotorDatabase
    persons: AsyncIOMotorCollection

    def company_id(self, workspace_id: str, group_id: str) -> str:
        return derived_id("co", workspace_id, group_id)

    async def load_companies(
        self, workspace_id: str, group_ids: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        """The stored companies of the workspace among `group_ids`, by group id."""
        wanted = sorted({self.company_id(workspace_id, g) for g in group_ids})
        if not wanted:
            return {}
        query = {"_id": {"$in": wanted}, "workspace_id": workspace_id}
        return {d["group_id"]: d async for d in self.db.companies.find(query)}

    async def company_people(
        self, workspace_id: str, group_id: str, after: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """A page of the company's live people, by person id (PEOPLE_PAGE and one more, to
        tell whether another page follows)."""
        query: dict[str, Any] = {
            "workspace_id": workspace_id,
            "company_ids": group_id,
            "merged_into": None,
        }
        if after:
            query["_id"] = {"$gt": after}
        cursor = self.persons.find(query).sort("_id", 1).limit(min(limit, PEOPLE_PAGE + 1))
        return [d async for d in cursor]

    async def count_people(self, workspace_id: str, group_id: str) -> int:
        query = {"workspace_id": workspace_id, "company_ids": group_id, "merged_into": None}
        return int(await self.persons.count_documents(query, limit=PEOPLE_COUNTED))

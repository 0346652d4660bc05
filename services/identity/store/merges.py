"""The writes of a merge beyond the versioned saves: claim, re-point, record, unmark."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection


class Merges:
    persons: AsyncIOMotorCollection
    visitors: AsyncIOMotorCollection
    dids: AsyncIOMotorCollection
    merges: AsyncIOMotorCollection

    async def claim_merge(
        self, merged: dict[str, Any], survivor_id: str, reason: str, at: datetime
    ) -> bool:
        """Freeze `merged` as merging into the survivor, if unchanged since it was read."""
        result = await self.persons.update_one(
            {
                "_id": merged["_id"],
                "workspace_id": merged["workspace_id"],
                "version": merged["version"],
                "merged_into": None,
            },
            {
                "$set": {
                    "merged_into": survivor_id,
                    "merge_pending": True,
                    "merged_at": at,
                    "merge_reason": reason,
                    "rev": f"merge:{survivor_id}",
                },
                "$inc": {"version": 1},
            },
        )
        return result.modified_count == 1

    async def repoint(self, workspace_id: str, from_id: str, to_id: str) -> None:
        """Distinct ids and visitors of `from_id` now belong to `to_id`."""
        query = {"workspace_id": workspace_id, "person_id": from_id}
        await self.dids.update_many(query, {"$set": {"person_id": to_id}})
        await self.visitors.update_many(query, {"$set": {"person_id": to_id}})

    async def record_merge(
        self, workspace_id: str, merged_id: str, survivor_id: str, reason: str, at: datetime
    ) -> None:
        await self.merges.update_one(
            {"workspace_id": workspace_id, "merged_id": merged_id},
            {"$setOnInsert": {"survivor_id": survivor_id, "at": at, "reason": reason}},
            upsert=True,
        )

    async def merge_done(self, workspace_id: str, merged_id: str, survivor_id: str) -> None:
        """Unmark the pending merge (a merged person is frozen: no versioned save lands)."""
        await self.persons.update_one(
            {"_id": merged_id, "workspace_id": workspace_id},
            {"$set": {"merged_into": survivor_id}, "$unset": {"merge_pending": ""}},
        )

    async def pending_merges_all_workspaces(
        self, limit: int, claimed_before: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Across workspaces, by design (the recovery sweep of the deployment): merges
        claimed and not finished, those claimed before `claimed_before` if given."""
        query: dict[str, Any] = {"merge_pending": True}
        if claimed_before is not None:
            query["merged_at"] = {"$lte": claimed_before}
        return await self.persons.find(query).limit(limit).to_list(None)

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
    conflicts: AsyncIOMotorCollection

    async def claim_merge(
        self,
        merged: dict[str, Any],
        survivor_id: str,
        reason: str,
        at: datetime,
        cause: dict[str, Any] | None = None,
    ) -> bool:
        """Freeze `merged` as merging into the survivor, if unchanged since it was read;
        the merge's cause is kept on it for the record `record_merge` writes."""
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
                    "merge_cause": cause,
                    "rev": f"merge:{survivor_id}",
                },
                "$inc": {"version": 1},
            },
        )
        return result.modified_count == 1

    async def repoint(self, workspace_id: str, from_id: str, to_id: str) -> None:
        """Distinct ids and visitors of `from_id` now belong to `to_id`; each remembers the
        person it came from on its `homes` stack (pushed here, popped by an undo: chained
        merges stack up, services/identity/unmerge.py)."""
        query = {"workspace_id": workspace_id, "person_id": from_id}
        moved = {"$set": {"person_id": to_id}, "$push": {"homes": from_id}}
        await self.dids.update_many(query, moved)
        # the version too: a worker's copy read before cannot write the old person back
        await self.visitors.update_many(query, {**moved, "$inc": {"version": 1}})

    async def record_merge(
        self,
        workspace_id: str,
        merged_id: str,
        survivor_id: str,
        reason: str,
        at: datetime,
        cause: dict[str, Any] | None = None,
    ) -> None:
        doc = {"survivor_id": survivor_id, "at": at, "reason": reason, "cause": cause}
        await self.merges.update_one(
            {"workspace_id": workspace_id, "merged_id": merged_id},
            {"$setOnInsert": doc},
            upsert=True,
        )

    async def merges_into(
        self, workspace_id: str, person_ids: list[str], limit: int
    ) -> list[dict[str, Any]]:
        """The merge records whose survivor is one of `person_ids` (a person and every id
        merged into it: a chain's earlier merges name the intermediate survivor)."""
        query = {"workspace_id": workspace_id, "survivor_id": {"$in": person_ids}}
        found = self.merges.find(query).sort([("at", -1)]).limit(limit)
        return await found.to_list(None)

    async def conflicts_of(
        self, workspace_id: str, person_ids: list[str], limit: int
    ) -> list[dict[str, Any]]:
        """The refused links that named one of `person_ids`, newest first."""
        query = {"workspace_id": workspace_id, "persons": {"$in": person_ids}}
        found = self.conflicts.find(query).sort([("at", -1)]).limit(limit)
        return await found.to_list(None)

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

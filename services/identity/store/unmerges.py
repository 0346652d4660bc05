"""The writes of an undone merge (services/identity/unmerge.py): what goes home, the revived
profile, the `person.unmerged` record and the `do_not_merge` pairs.

What a merge moved is known from the moved documents themselves: `repoint` pushes the
person each distinct id and visitor came from on its `homes` stack, and an undo pops it.
Undos go last merge first (a merge whose survivor took a later merge is refused), so
the person a stack's top names is always the one the undone merge took them from.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo.errors import DuplicateKeyError

from services.identity.store.ids import derived_id

# an event record's fields a replay reads (services/identity/replay.py)
REPLAY_FIELDS = {
    "message_id": 1,
    "type": 1,
    "properties_json": 1,
    "timestamp": 1,
    "source": 1,
    "trusted": 1,
}


def _oid(value: str) -> ObjectId | None:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


class Unmerges:
    persons: AsyncIOMotorCollection
    visitors: AsyncIOMotorCollection
    dids: AsyncIOMotorCollection
    aliases: AsyncIOMotorCollection
    events: AsyncIOMotorCollection
    merges: AsyncIOMotorCollection
    unmerges: AsyncIOMotorCollection
    do_not_merge: AsyncIOMotorCollection

    # --- which merge, and what stands on it ------------------------------------------
    async def merge_record(self, workspace_id: str, merge_id: str) -> dict[str, Any] | None:
        """A standing merge by its id (a malformed id is simply not found)."""
        oid = _oid(merge_id)
        if oid is None:
            return None
        return await self.merges.find_one({"_id": oid, "workspace_id": workspace_id})

    async def merge_of(self, workspace_id: str, merged_id: str) -> dict[str, Any] | None:
        """The standing merge that took `merged_id` away, if any."""
        return await self.merges.find_one({"workspace_id": workspace_id, "merged_id": merged_id})

    async def later_merges_into(
        self, workspace_id: str, survivor_id: str, merge: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Standing merges into the survivor recorded after `merge`, newest first."""
        query = {
            "workspace_id": workspace_id,
            "survivor_id": survivor_id,
            "at": {"$gte": merge["at"]},
        }
        found = await self.merges.find(query).sort([("at", -1), ("_id", -1)]).to_list(None)
        return [d for d in found if (d["at"], d["_id"]) > (merge["at"], merge["_id"])]

    # --- what goes home -----------------------------------------------------------------
    async def returning(
        self, workspace_id: str, survivor_id: str, merged_id: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The distinct ids and visitors of the survivor whose stack's top is `merged_id`."""
        query = {"workspace_id": workspace_id, "person_id": survivor_id, "homes": merged_id}
        dids = await self.dids.find(query).to_list(None)
        visitors = await self.visitors.find(query, {"_id": 1}).to_list(None)
        return dids, visitors

    async def send_home(self, workspace_id: str, survivor_id: str, merged_id: str) -> None:
        """They belong to `merged_id` again; its name leaves their stacks (idempotent: a
        second run finds none left on the survivor). A visitor's version moves too, so a
        worker's copy read before cannot write the old person back."""
        query = {"workspace_id": workspace_id, "person_id": survivor_id, "homes": merged_id}
        home = {"$set": {"person_id": merged_id}, "$pop": {"homes": 1}}
        await self.dids.update_many(query, home)
        await self.visitors.update_many(query, {**home, "$inc": {"version": 1}})

    async def drop_links(
        self, workspace_id: str, distinct_ids: list[str], own_user_ids: list[str]
    ) -> int:
        """The alias records joining the split-off distinct ids to a user id that is not
        theirs (the survivor's: the undone link); how many went."""
        if not distinct_ids:
            return 0
        query = {
            "workspace_id": workspace_id,
            "distinct_id": {"$in": sorted(set(distinct_ids))},
            "user_id": {"$nin": sorted(set(own_user_ids))},
        }
        return int((await self.aliases.delete_many(query)).deleted_count)

    async def move_events(
        self, workspace_id: str, from_id: str, to_id: str, visitor_ids: list[str]
    ) -> int:
        """Events of these visitors recorded on `from_id` go to `to_id`; how many moved."""
        if not visitor_ids:
            return 0
        query = {
            "workspace_id": workspace_id,
            "person_id": from_id,
            "visitor_id": {"$in": sorted(set(visitor_ids))},
        }
        result = await self.events.update_many(query, {"$set": {"person_id": to_id}})
        return int(result.modified_count)

    async def replay_events(
        self, workspace_id: str, person_ids: list[str]
    ) -> AsyncIterator[dict[str, Any]]:
        """Every event of the persons, as much of it as a replay reads."""
        query = {"workspace_id": workspace_id, "person_id": {"$in": person_ids}}
        async for doc in self.events.find(query, REPLAY_FIELDS):
            yield doc

    async def revive_person(self, doc: dict[str, Any], survivor_id: str) -> bool:
        """The merged-away person live again as `doc`, if it is still merged into the
        survivor (False: someone revived it first)."""
        query = {"_id": doc["_id"], "workspace_id": doc["workspace_id"], "merged_into": survivor_id}
        stored = {**doc, "merged_into": None, "version": doc["version"] + 1}
        for key in ("merge_pending", "merged_at", "merge_reason", "merge_cause"):
            stored.pop(key, None)
        result = await self.persons.replace_one(query, stored)
        return result.matched_count == 1

    # --- the record and the block -------------------------------------------------------
    async def record_unmerge(self, merge: dict[str, Any], undone: dict[str, Any]) -> None:
        """`person.unmerged`: the merge record moves to `unmerges` with who undid it and
        when (same id: a retry keeps one), so the merged id may merge again one day."""
        doc = {**merge, **undone}
        try:
            await self.unmerges.insert_one(doc)
        except DuplicateKeyError:
            pass
        await self.merges.delete_one({"_id": merge["_id"], "workspace_id": merge["workspace_id"]})

    async def unmerges_of(
        self, workspace_id: str, person_ids: list[str], limit: int
    ) -> list[dict[str, Any]]:
        """Undone merges either side of which is one of `person_ids`, newest undo first."""
        found: dict[Any, dict[str, Any]] = {}
        for key in ("survivor_id", "merged_id"):
            query = {"workspace_id": workspace_id, key: {"$in": person_ids}}
            async for doc in self.unmerges.find(query).sort([("undone_at", -1)]).limit(limit):
                found[doc["_id"]] = doc
        return sorted(found.values(), key=lambda d: d["undone_at"], reverse=True)[:limit]

    async def block_pair(
        self, workspace_id: str, a: str, b: str, at: datetime, cause: dict[str, Any]
    ) -> None:
        """A recorded `do_not_merge` pair: a later link between the two is refused."""
        pair = sorted([a, b])
        await self.do_not_merge.update_one(
            {
                "_id": derived_id("dnm", workspace_id, "\x00".join(pair)),
                "workspace_id": workspace_id,
            },
            {"$setOnInsert": {"persons": pair, "at": at, "cause": cause}},
            upsert=True,
        )

    async def blocked(
        self, workspace_id: str, family_a: list[str], family_b: list[str]
    ) -> dict[str, Any] | None:
        """A `do_not_merge` pair with one person in each family, if one is recorded."""
        query = {"workspace_id": workspace_id, "persons": {"$in": family_a}}
        a, b = set(family_a), set(family_b)
        async for doc in self.do_not_merge.find(query):
            pair = doc.get("persons") or []
            if len(pair) == 2 and (
                (pair[0] in a and pair[1] in b) or (pair[1] in a and pair[0] in b)
            ):
                return doc
        return None

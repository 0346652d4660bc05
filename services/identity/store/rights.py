"""What data rights need of the identity database: a person's whole family, read or erased."""

from __future__ import annotations

from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase


class Rights:
    db: AsyncIOMotorDatabase

    async def aliases_of(
        self, workspace_id: str, user_ids: list[str], distinct_ids: list[str]
    ) -> list[dict[str, Any]]:
        """Alias records naming one of the user ids or distinct ids."""
        found: dict[Any, dict[str, Any]] = {}
        for field, values in (("user_id", user_ids), ("distinct_id", distinct_ids)):
            if not values:
                continue
            query = {"workspace_id": workspace_id, field: {"$in": values}}
            async for doc in self.db.aliases.find(query):
                found[doc["_id"]] = doc
        return list(found.values())

    async def events_by_position(
        self,
        workspace_id: str,
        person_ids: list[str],
        after: tuple[Any, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """The persons' events oldest first after (timestamp, _id): a cursor that does not skip
        events sharing a timestamp, as a page by `before` alone would."""
        query: dict[str, Any] = {"workspace_id": workspace_id, "person_id": {"$in": person_ids}}
        if after is not None:
            stamp, event_id = after
            query["$or"] = [
                {"timestamp": {"$gt": stamp}},
                {"timestamp": stamp, "_id": {"$gt": event_id}},
            ]
        found = self.db.events.find(query).sort([("timestamp", 1), ("_id", 1)]).limit(limit)
        return await found.to_list(None)

    async def count_events(self, workspace_id: str, person_ids: list[str]) -> int:
        query = {"workspace_id": workspace_id, "person_id": {"$in": person_ids}}
        return int(await self.db.events.count_documents(query))

    async def erase(self, workspace_id: str, ids: dict[str, list[str]]) -> dict[str, int]:
        """Erase every record naming the person's ids (`person_ids`, `distinct_ids`,
        `user_ids`, `visitor_ids`); the persons last, so an erase cut short is found and
        finished by the next. Idempotent. The counts of what went, by collection."""
        ws, pids = workspace_id, ids["person_ids"]
        queries: list[tuple[str, dict[str, Any]]] = [
            ("events", {"person_id": {"$in": pids}}),
            ("distinct_ids", {"person_id": {"$in": pids}}),
            ("distinct_ids", {"distinct_id": {"$in": ids["distinct_ids"]}}),
            ("visitors", {"person_id": {"$in": pids}}),
            ("visitors", {"_id": {"$in": ids["visitor_ids"]}}),
            ("aliases", {"user_id": {"$in": ids["user_ids"]}}),
            ("aliases", {"distinct_id": {"$in": ids["distinct_ids"]}}),
            ("merges", {"merged_id": {"$in": pids}}),
            ("merges", {"survivor_id": {"$in": pids}}),
            ("unmerges", {"merged_id": {"$in": pids}}),
            ("unmerges", {"survivor_id": {"$in": pids}}),
            ("do_not_merge", {"persons": {"$in": pids}}),
            ("conflicts", {"persons": {"$in": pids}}),
            ("persons", {"_id": {"$in": pids}}),
        ]
        counts: dict[str, int] = {}
        for collection, query in queries:
            result = await self.db[collection].delete_many({"workspace_id": ws, **query})
            counts[collection] = counts.get(collection, 0) + result.deleted_count
        return counts

    async def sweep_events(self, workspace_id: str, before: Any, limit: int) -> int:
        """Retention's seam: at most `limit` of the workspace's events timed before
        `before` removed (the `(workspace_id, timestamp)` index finds them); how many."""
        query = {"workspace_id": workspace_id, "timestamp": {"$lt": before}}
        found = self.db.events.find(query, projection={"_id": 1}).limit(limit)
        ids = [doc["_id"] async for doc in found]
        if not ids:
            return 0
        result = await self.db.events.delete_many(
            {"_id": {"$in": ids}, "workspace_id": workspace_id}
        )
        return int(result.deleted_count)

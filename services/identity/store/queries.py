"""The read side the profiles API and the dashboard need: look-ups, search, event pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection

from shared import clock
from shared.dialect import Dialect
from shared.events import parse_time

NEWEST_SEEN = [("last_seen", -1), ("_id", -1)]
SEEN_FIRST_WINDOW = timedelta(hours=1)
OLDEST_SEEN = datetime(2000, 1, 1, tzinfo=UTC)  # no event before it is taken


def _edge(moment: datetime) -> str:
    """A `last_seen` bound no stored value equals: the microsecond before `moment`'s minute
    (seen-times are whole minutes), so `$gt`/`$lt` on it are exact whatever the index's
    direction (SecantusDB reads `$gte` as `$gt` on a descending key: shared/dialect.py)."""
    floor = moment.replace(second=0, microsecond=0)
    return clock.iso(floor - timedelta(microseconds=1), "microseconds")


class Queries:
    persons: AsyncIOMotorCollection
    visitors: AsyncIOMotorCollection
    dids: AsyncIOMotorCollection
    events: AsyncIOMotorCollection
    dialect: Dialect

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
        """Live persons newest seen first, after the position (last_seen, id) if given;
        through `last_seen` windows where the dialect sorts a whole match before its limit
        (`windowed_recent_pages`: ~1.2 s for a page of 10,000 persons on SecantusDB)."""
        query: dict[str, Any] = {"workspace_id": workspace_id, "merged_into": None}
        if stage:
            query["stage"] = stage
        if self.dialect.windowed_recent_pages:
            return await self._seen_in_windows(query, after, limit)
        if after is not None:
            query.update(_after(after))
        found = self.persons.find(query).sort(NEWEST_SEEN).limit(limit)
        return await found.to_list(None)

    async def _seen_in_windows(
        self, query: dict[str, Any], after: tuple[str, str] | None, need: int
    ) -> list[dict[str, Any]]:
        """The natural page's rows, read as bounded ranges of `last_seen` (an hour wide, then
        four times wider each) so the database sorts only what a range holds; the persons
        never seen (`last_seen` null) come last, as in the natural order."""
        last_seen, pid = after if after is not None else ("", "")
        docs: list[dict[str, Any]] = []
        top = parse_time(last_seen) if last_seen else None
        if after is None or top is not None:
            if top is not None:  # the rest of the cursor's own minute first
                tie = {**query, "last_seen": last_seen, "_id": {"$lt": pid}}
                docs = await self.persons.find(tie).sort("_id", -1).limit(need).to_list(None)
            docs += await self._seen_before(query, top, need - len(docs))
            pid = ""
        if len(docs) < need:  # the never-seen tail, by id
            tail: dict[str, Any] = {**query, "last_seen": None}
            if pid:
                tail["_id"] = {"$lt": pid}
            found = self.persons.find(tail).sort("_id", -1).limit(need - len(docs))
            docs += await found.to_list(None)
        return docs

    async def _seen_before(
        self, query: dict[str, Any], top: datetime | None, need: int
    ) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = []
        upper, width = top, SEEN_FIRST_WINDOW
        lower = (top or clock.now()) - width
        while len(docs) < need:
            window = {"$gt": _edge(max(lower, OLDEST_SEEN))}
            if upper is not None:
                window["$lt"] = _edge(upper)
            found = self.persons.find({**query, "last_seen": window}).sort(NEWEST_SEEN)
            docs += await found.limit(need - len(docs)).to_list(None)
            if lower <= OLDEST_SEEN:
                break
            upper, width = lower, width * 4
            lower = upper - width
        return docs

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

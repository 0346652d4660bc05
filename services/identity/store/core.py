"""The identity database: collections, indexes and the atomic operations on them.

Concurrency rests on three things (docs/identity.md, "Ordering and concurrency"):
- unique indexes: one distinct id per workspace, one event per message id, one
  merge record per merged-away profile; a lost race surfaces as a duplicate key;
- optimistic versions: persons and visitors are read, changed in Python by the
  pure functions of `model.py`, and written back only if `version` is unchanged;
- deterministic ids: the person and visitor a new distinct id creates are named
  after it, so two workers creating them at once write the same documents.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from itertools import groupby
from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import (
    ASCENDING,
    DESCENDING,
    IndexModel,
    InsertOne,
    ReplaceOne,
    ReturnDocument,
)
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from services.identity.model import new_person, new_visitor, stage_rank
from services.identity.store.companies import Companies
from services.identity.store.ids import derived_id
from services.identity.store.merges import Merges
from services.identity.store.queries import Queries
from services.identity.store.rights import Rights
from services.identity.store.unmerges import Unmerges
from shared import clock
from shared.dialect import Dialect

INDEXES = {
    "persons": [
        IndexModel([("workspace_id", ASCENDING), ("user_id", ASCENDING)]),
        IndexModel([("workspace_id", ASCENDING), ("emails", ASCENDING)]),
        IndexModel([("workspace_id", ASCENDING), ("search", ASCENDING)]),
        IndexModel(
            [("workspace_id", ASCENDING), ("merged_into", ASCENDING), ("last_seen", DESCENDING)]
        ),
        IndexModel([("merge_pending", ASCENDING)], sparse=True),
        IndexModel([("workspace_id", ASCENDING), ("company_ids", ASCENDING)]),
    ],
    "companies": [IndexModel([("workspace_id", ASCENDING), ("group_id", ASCENDING)])],
    "visitors": [IndexModel([("workspace_id", ASCENDING), ("person_id", ASCENDING)])],
    "distinct_ids": [
        IndexModel([("workspace_id", ASCENDING), ("distinct_id", ASCENDING)], unique=True),
        IndexModel([("workspace_id", ASCENDING), ("person_id", ASCENDING)]),
    ],
    "aliases": [
        IndexModel(
            [("workspace_id", ASCENDING), ("user_id", ASCENDING), ("distinct_id", ASCENDING)],
            unique=True,
        )
    ],
    "events": [
        IndexModel([("workspace_id", ASCENDING), ("message_id", ASCENDING)], unique=True),
        IndexModel(
            [("workspace_id", ASCENDING), ("person_id", ASCENDING), ("timestamp", DESCENDING)]
        ),
        # the retention sweep (services/identity/retention.py): a workspace's oldest events
        IndexModel([("workspace_id", ASCENDING), ("timestamp", ASCENDING)]),
    ],
    "merges": [
        IndexModel([("workspace_id", ASCENDING), ("merged_id", ASCENDING)], unique=True),
        IndexModel([("workspace_id", ASCENDING), ("survivor_id", ASCENDING)]),
    ],
    "unmerges": [
        IndexModel([("workspace_id", ASCENDING), ("survivor_id", ASCENDING)]),
        IndexModel([("workspace_id", ASCENDING), ("merged_id", ASCENDING)]),
    ],
    "do_not_merge": [IndexModel([("workspace_id", ASCENDING), ("persons", ASCENDING)])],
    "conflicts": [
        IndexModel([("workspace_id", ASCENDING), ("at", DESCENDING)]),
        IndexModel([("workspace_id", ASCENDING), ("persons", ASCENDING)]),
        IndexModel([("workspace_id", ASCENDING), ("kind", ASCENDING), ("at", DESCENDING)]),
    ],
}

# indexes earlier versions made that no query reads (each cost every write of its
# collection): dropped at start
UNUSED_INDEXES = {"distinct_ids": ["visitor_id_1"]}

MARK_ATTEMPTS = 12
REVIEW_KIND = "too_many_distinct_ids"


class StaleRead(Exception):
    """Someone else changed what this worker read: read again and redo.

    Not the dashboard's `store.Conflict` (a write that would break a rule, shown to the
    user): this one never leaves identity, its callers retry.
    """


def by_workspace(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """(workspace, id) pairs -> workspace -> ids: one query per workspace."""
    ordered = sorted(set(pairs))
    return {ws: [i for _, i in group] for ws, group in groupby(ordered, key=lambda p: p[0])}


class IdentityStore(Queries, Merges, Unmerges, Companies, Rights):
    """The only door to the identity database (tests/unit/test_store_boundary.py): every
    query carries the workspace id, except the ones named `..._all_workspaces`; a filter
    on `_id` lists it first (SecantusDB's planner follows the first key)."""

    def __init__(self, db: AsyncIOMotorDatabase, dialect: Dialect) -> None:
        self.db = db
        self.dialect = dialect
        self.persons = db.persons
        self.visitors = db.visitors
        self.dids = db.distinct_ids
        self.aliases = db.aliases
        self.events = db.events
        self.merges = db.merges
        self.conflicts = db.conflicts
        self.unmerges = db.unmerges
        self.do_not_merge = db.do_not_merge
        self.companies = db.companies

    async def drop_unused_indexes(self) -> None:
        for collection, names in UNUSED_INDEXES.items():
            existing = await self.db[collection].index_information()
            for name in names:
                if name in existing:
                    await self.db[collection].drop_index(name)

    # --- events: one per (workspace, message id) ------------------------------------
    async def seen_events(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (workspace, message id) already have a record: applied before."""
        by_ws: dict[str, list[str]] = {}
        for ws, mid in keys:
            by_ws.setdefault(ws, []).append(mid)
        seen: set[tuple[str, str]] = set()
        for ws, mids in by_ws.items():  # one equality + $in per workspace: an $or scans
            query = {"workspace_id": ws, "message_id": {"$in": mids}}
            async for doc in self.events.find(query, {"message_id": 1}):
                seen.add((ws, doc["message_id"]))
        return seen

    async def record_events(self, docs: list[dict[str, Any]]) -> None:
        """Store the records of applied events; one a concurrent redelivery stored wins."""
        if not docs:
            return
        try:
            await self.events.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    # --- distinct ids ---------------------------------------------------------------
    async def find_dids(self, workspace_id: str, ids: Iterable[str]) -> dict[str, dict]:
        wanted = sorted({i for i in ids if i})
        if not wanted:
            return {}
        cursor = self.dids.find({"workspace_id": workspace_id, "distinct_id": {"$in": wanted}})
        return {d["distinct_id"]: d async for d in cursor}

    async def find_dids_many(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        by_ws: dict[str, set[str]] = {}
        for ws, did in pairs:
            by_ws.setdefault(ws, set()).add(did)
        found: dict[tuple[str, str], dict] = {}
        for ws, ids in by_ws.items():
            for did, doc in (await self.find_dids(ws, ids)).items():
                found[(ws, did)] = doc
        return found

    async def claim_did(
        self,
        workspace_id: str,
        distinct_id: str,
        person_id: str,
        visitor_id: str,
        is_user: bool,
        seen_at: str | None = None,
    ) -> dict[str, Any]:
        """The distinct id's record: ours if it was new, else whoever created it first."""
        query = {"workspace_id": workspace_id, "distinct_id": distinct_id}
        insert = {
            "person_id": person_id,
            "visitor_id": visitor_id,
            "kind": "user" if is_user else "anonymous",
            "seen_at": seen_at,
            "created_at": clock.now(),
        }
        try:
            if self.dialect.find_and_modify:
                doc = await self.dids.find_one_and_update(
                    query,
                    {"$setOnInsert": insert},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            else:  # SecantusDB scans the collection for find_one_and_update
                await self.dids.update_one(query, {"$setOnInsert": insert}, upsert=True)
                doc = await self.dids.find_one(query)
        except DuplicateKeyError:
            doc = await self.dids.find_one(query)
        if doc is None:  # pragma: no cover - the unique index makes this unreachable
            raise StaleRead("distinct id vanished")
        return doc

    async def create_dids(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        """New anonymous ids in one write, each with the person and visitor named after it;
        an id someone created meanwhile is read back instead."""
        docs = [
            {
                "workspace_id": ws,
                "distinct_id": did,
                "person_id": derived_id("p", ws, did),
                "visitor_id": derived_id("v", ws, did),
                "kind": "anonymous",
                "seen_at": None,
                "created_at": clock.now(),
            }
            for ws, did in keys
        ]
        if not docs:
            return {}
        lost: list[tuple[str, str]] = []
        try:
            await self.dids.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            for err in exc.details.get("writeErrors", []):
                if err.get("code") != 11000:
                    raise
                lost.append(keys[err["index"]])
        made = {k: d for k, d in zip(keys, docs, strict=True) if k not in set(lost)}
        made.update(await self.find_dids_many(lost))
        return made

    async def settle_visitor(self, record: dict[str, Any], visitor_id: str, at: str) -> None:
        """A user id belongs to the device of the earliest event (by event time) that named it.

        Any order of delivery ends with the same choice: a later-processed but
        earlier event moves it; ties go to the smaller visitor id. Compare-and-set
        on the record as read, re-read when someone moved it meanwhile.
        """
        for _ in range(8):
            seen = record.get("seen_at")
            if seen is not None and (seen, record["visitor_id"]) <= (at, visitor_id):
                return
            result = await self.dids.update_one(
                {
                    "_id": record["_id"],
                    "workspace_id": record["workspace_id"],
                    "seen_at": seen,
                    "visitor_id": record["visitor_id"],
                },
                {"$set": {"visitor_id": visitor_id, "seen_at": at}},
            )
            if result.matched_count:
                return
            key = {"_id": record["_id"], "workspace_id": record["workspace_id"]}
            record = await self.dids.find_one(key) or record

    async def add_alias(self, workspace_id: str, user_id: str, distinct_id: str) -> None:
        try:
            await self.aliases.update_one(
                {"workspace_id": workspace_id, "user_id": user_id, "distinct_id": distinct_id},
                {"$setOnInsert": {"created_at": clock.now()}},
                upsert=True,
            )
        except DuplicateKeyError:
            pass

    # --- persons and visitors: optimistic versions -----------------------------------
    async def load_person(self, person_id: str, workspace_id: str) -> dict[str, Any]:
        """The stored person, or a fresh one (version 0) when only its distinct id exists yet."""
        doc = await self.persons.find_one({"_id": person_id, "workspace_id": workspace_id})
        return doc or new_person(person_id, workspace_id, clock.now())

    async def load_persons(self, workspace_id: str, ids: Iterable[str]) -> dict[str, dict]:
        """The stored persons of the workspace among `ids`, by id."""
        return await self._by_ids("persons", workspace_id, ids)

    async def load_persons_many(self, pairs: Iterable[tuple[str, str]]) -> dict[str, dict]:
        """The stored persons named by (workspace, id) pairs, by id."""
        found: dict[str, dict] = {}
        for ws, ids in by_workspace(pairs).items():
            found.update(await self.load_persons(ws, ids))
        return found

    async def _by_ids(
        self, collection: str, workspace_id: str, ids: Iterable[str], projection: Any = None
    ) -> dict[str, dict]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        query = {"_id": {"$in": wanted}, "workspace_id": workspace_id}
        return {d["_id"]: d async for d in self.db[collection].find(query, projection)}

    async def save(self, collection: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Write `doc` if nobody wrote it since it was read (else StaleRead); returns it stored."""
        coll = self.db[collection]
        version = doc["version"]
        stored = {**doc, "version": version + 1}
        if version == 0:
            try:
                await coll.insert_one(stored)
            except DuplicateKeyError as exc:
                raise StaleRead(f"{collection} {doc['_id']} created meanwhile") from exc
            return stored
        query: dict[str, Any] = {
            "_id": doc["_id"],
            "workspace_id": doc["workspace_id"],
            "version": version,
        }
        if collection == "persons":
            query["merged_into"] = None
        result = await coll.replace_one(query, stored)
        if result.matched_count != 1:
            raise StaleRead(f"{collection} {doc['_id']} changed meanwhile")
        return stored

    async def mark_stage_announced(self, person: dict[str, Any]) -> bool:
        """Record that `person`'s stage was announced; False if it (or a later one) was already.

        Under the version, like every write to a person: a worker holding a copy read
        before the mark then conflicts and re-reads, instead of writing its copy back
        without the mark (which made the next announcement publish `promoted` again).
        """
        stage, current = person["stage"], person
        for _ in range(MARK_ATTEMPTS):
            if stage_rank(current.get("stage_announced")) >= stage_rank(stage):
                return False
            result = await self.persons.update_one(
                {
                    "_id": current["_id"],
                    "workspace_id": current["workspace_id"],
                    "version": current["version"],
                },
                {"$set": {"stage_announced": stage}, "$inc": {"version": 1}},
            )
            if result.matched_count:
                return True
            found = await self.persons.find_one(
                {"_id": current["_id"], "workspace_id": current["workspace_id"]}
            )
            if found is None:
                return False
            current = found
        raise StaleRead(f"person {person['_id']} kept changing")

    async def save_many(self, collection: str, docs: list[dict[str, Any]]) -> set[str]:
        """Batch `save`; returns the ids that hit a conflict (to be redone one by one).

        Where each statement is a commit of its own (SecantusDB) the batch goes in one
        transaction first; one that aborts (an insert lost its race, a concurrent writer)
        is written again statement by statement, where each outcome is told apart."""
        if not docs:
            return set()
        ops, revs = _versioned_writes(collection, docs)
        if self.dialect.commit_per_statement and len(ops) > 1:
            try:
                return await self._bulk_in_transaction(collection, docs, ops, revs)
            except PyMongoError:
                pass
        return await self._bulk(collection, docs, ops, revs)

    async def _bulk_in_transaction(
        self, collection: str, docs: list[dict[str, Any]], ops: list[Any], revs: dict[str, str]
    ) -> set[str]:
        async with await self.db.client.start_session() as session:
            async with session.start_transaction():
                result = await self.db[collection].bulk_write(ops, session=session)
        replaced = [d for d in docs if d["version"] != 0]
        if replaced and result.matched_count != len(replaced):
            return await self._unsaved(collection, replaced, revs)
        return set()

    async def _bulk(
        self, collection: str, docs: list[dict[str, Any]], ops: list[Any], revs: dict[str, str]
    ) -> set[str]:
        failed: set[str] = set()
        replaced = [d for d in docs if d["version"] != 0]
        try:
            result = await self.db[collection].bulk_write(ops, ordered=False)
            if replaced and result.matched_count != len(replaced):
                failed = await self._unsaved(collection, replaced, revs)
        except BulkWriteError as exc:
            for err in exc.details.get("writeErrors", []):
                if err.get("code") != 11000:
                    raise
                failed.add(docs[err["index"]]["_id"])
            if exc.details.get("nMatched", 0) != len(replaced):
                failed |= await self._unsaved(collection, replaced, revs)
        return failed

    async def _unsaved(
        self, collection: str, docs: list[dict[str, Any]], revs: dict[str, str]
    ) -> set[str]:
        """Which replaces did not land: the stored revision is not the one we wrote."""
        stored: dict[str, Any] = {}
        for ws, ids in by_workspace((d["workspace_id"], d["_id"]) for d in docs).items():
            found = await self._by_ids(collection, ws, ids, {"rev": 1})
            stored.update({i: d.get("rev") for i, d in found.items()})
        return {d["_id"] for d in docs if stored.get(d["_id"]) != revs[d["_id"]]}

    async def load_visitor(
        self, visitor_id: str, workspace_id: str, person_id: str, distinct_id: str
    ) -> dict[str, Any]:
        doc = await self.visitors.find_one({"_id": visitor_id, "workspace_id": workspace_id})
        return doc or new_visitor(visitor_id, workspace_id, person_id, distinct_id, clock.now())

    async def load_visitors_many(self, pairs: Iterable[tuple[str, str]]) -> dict[str, dict]:
        """The stored visitors named by (workspace, id) pairs, by id."""
        found: dict[str, dict] = {}
        for ws, ids in by_workspace(pairs).items():
            found.update(await self._by_ids("visitors", ws, ids))
        return found

    async def count_dids(self, workspace_id: str, person_ids: list[str], limit: int) -> int:
        """How many distinct ids point at the persons, counted up to `limit`."""
        query = {"workspace_id": workspace_id, "person_id": {"$in": person_ids}}
        return int(await self.dids.count_documents(query, limit=limit))

    async def hold_for_review(
        self, workspace_id: str, persons: list[str], cause: dict[str, Any], held: int
    ) -> None:
        """A merge held back by the distinct-id limit: one review record a pair, however
        often the pair comes back (`attempts` counts them)."""
        pair = sorted(persons)
        now = clock.now()
        await self.conflicts.update_one(
            {
                "_id": derived_id("review", workspace_id, "\x00".join(pair)),
                "workspace_id": workspace_id,
            },
            {
                "$setOnInsert": {
                    "kind": REVIEW_KIND,
                    "persons": pair,
                    "at": now,
                    "cause": cause,
                    "message_id": cause.get("message_id"),
                },
                "$set": {"last_at": now, "distinct_ids": held},
                "$inc": {"attempts": 1},
            },
            upsert=True,
        )

    async def reviews(self, workspace_id: str, limit: int) -> list[dict[str, Any]]:
        """The merges held for a review, newest first."""
        query = {"workspace_id": workspace_id, "kind": REVIEW_KIND}
        found = self.conflicts.find(query).sort([("at", -1)]).limit(limit)
        return await found.to_list(None)

    async def record_conflict(self, workspace_id: str, **details: Any) -> None:
        await self.conflicts.insert_one(
            {"workspace_id": workspace_id, "at": clock.now(), **details}
        )


def _versioned_writes(
    collection: str, docs: list[dict[str, Any]]
) -> tuple[list[Any], dict[str, str]]:
    """Each document's write under its version (an insert for a new one), and the fresh
    revision each carries (to tell afterwards which landed)."""
    ops: list[Any] = []
    revs: dict[str, str] = {}
    for doc in docs:
        revs[doc["_id"]] = uuid.uuid4().hex
        stored = {**doc, "version": doc["version"] + 1, "rev": revs[doc["_id"]]}
        if doc["version"] == 0:
            ops.append(InsertOne(stored))
            continue
        query: dict[str, Any] = {
            "_id": doc["_id"],
            "workspace_id": doc["workspace_id"],
            "version": doc["version"],
        }
        if collection == "persons":
            query["merged_into"] = None
        ops.append(ReplaceOne(query, stored))
    return ops, revs

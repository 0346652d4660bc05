"""Conversations: look-ups, guarded field updates, seq reservations and folds, lists."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo import ReturnDocument, UpdateMany, UpdateOne

from services.chat.store import counts
from services.chat.store.inbox import Keep, recent_page
from services.chat.store.schema import by_id
from shared import clock
from shared.dialect import Dialect

ACTIVITY_ORDER = [("last_activity_at", -1), ("_id", -1)]
BY_DOCUMENT_GROUP = 8


def by_document(stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One `$set` stage doing what each document's own stage (`_id` -> `{"$set": ...}`)
    does to it: each field a `$switch` on `_id`, a document whose stage leaves the
    field alone keeping its value."""
    fields: dict[str, list[dict[str, Any]]] = {}
    for doc_id, stage in stages.items():
        for name, value in stage["$set"].items():
            case = {"case": {"$eq": ["$_id", {"$literal": doc_id}]}, "then": value}
            fields.setdefault(name, []).append(case)
    return {
        "$set": {
            name: {"$switch": {"branches": branches, "default": f"${name}"}}
            for name, branches in fields.items()
        }
    }


def literal_set(fields: dict[str, Any]) -> dict[str, Any]:
    """A pipeline `$set` stage of plain values (a string starting with `$` stays a string)."""
    return {"$set": {name: {"$literal": value} for name, value in fields.items()}}


class Conversations(counts.Counts):
    conversations: AsyncIOMotorCollection
    assign_state: AsyncIOMotorCollection
    dialect: Dialect

    async def conversation(self, workspace_id: str, conversation_id: str) -> dict[str, Any] | None:
        return await self.conversations.find_one(by_id(workspace_id, conversation_id))

    async def by_visitor(self, workspace_id: str, visitor_id: str) -> dict[str, Any] | None:
        return await self.conversations.find_one(
            {"workspace_id": workspace_id, "visitor_id": visitor_id}
        )

    async def set_fields(
        self,
        workspace_id: str,
        conversation_id: str,
        fields: dict[str, Any],
        guard: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Set `fields` if the guard holds; the document after, or None when it did not.
        A change of status or assignee moves the inbox counts with it (store/counts.py)."""
        query = {**by_id(workspace_id, conversation_id), **(guard or {})}
        mark = counts.token()
        update = counts.counted([literal_set({**fields, "updated_at": clock.now()})], mark)
        if self.dialect.find_and_modify:
            after = await self.conversations.find_one_and_update(
                query, update, return_document=ReturnDocument.AFTER
            )
        else:
            # update then read: SecantusDB scans the collection for find_one_and_update
            result = await self.conversations.update_one(query, update)
            if result.matched_count == 0:
                return None
            after = await self.conversations.find_one(by_id(workspace_id, conversation_id))
        if after is not None:
            await self.add_counts(workspace_id, counts.deltas([after], mark))
        return after

    async def set_many(
        self, workspace_id: str, conversation_ids: list[str], fields: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Set `fields` on each conversation (one update, one read, one `$inc` of the
        counts); the documents after, those that exist."""
        if not conversation_ids:
            return []
        mark = counts.token()
        update = counts.counted([literal_set({**fields, "updated_at": clock.now()})], mark)
        wanted = by_id(workspace_id, {"$in": conversation_ids})
        await self.conversations.update_many(wanted, update)
        docs = await self.conversations.find(wanted).to_list(None)
        await self.add_counts(workspace_id, counts.deltas(docs, mark))
        return docs

    async def reserve(
        self, workspace_id: str, ids_by_conversation: dict[str, list[str]], field: str
    ) -> dict[str, int]:
        """Reserve a seq for each message id; conversation id -> the last seq reserved.

        One bulk pipeline update copies the new `last_seq` into `field` (named per
        batch, so concurrent reservations never read each other's) and lists the ids
        in `unfolded`; one read gets them back. The fold removes `field` again.
        """
        if not ids_by_conversation:
            return {}
        stages = {
            cid: {
                "$set": {
                    "last_seq": {"$add": ["$last_seq", len(ids)]},
                    field: {"$add": ["$last_seq", len(ids)]},
                    "unfolded": {
                        "$concatArrays": [{"$ifNull": ["$unfolded", []]}, {"$literal": ids}]
                    },
                }
            }
            for cid, ids in ids_by_conversation.items()
        }
        await self._update_each(workspace_id, stages)
        wanted = list(ids_by_conversation)
        cursor = self.conversations.find(
            by_id(workspace_id, {"$in": wanted}), projection={field: 1}
        )
        found = {doc["_id"]: doc.get(field) async for doc in cursor}
        if any(not isinstance(found.get(cid), int) for cid in wanted):
            raise RuntimeError("a seq reservation was not found")
        return found

    async def fold(
        self, workspace_id: str, stages: dict[str, dict[str, Any]], drop: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """Apply one fold stage per conversation (and remove `drop`); id -> the doc after."""
        if not stages:
            return {}
        mark = counts.token()
        await self._update_each(
            workspace_id, stages, [{"$unset": [drop]}] if drop else [], counted=mark
        )
        cursor = self.conversations.find(by_id(workspace_id, {"$in": list(stages)}))
        after = {doc["_id"]: doc async for doc in cursor}
        await self.add_counts(workspace_id, counts.deltas(after.values(), mark))
        return after

    async def _update_each(
        self,
        workspace_id: str,
        stages: dict[str, dict[str, Any]],
        tail: list[dict[str, Any]] | None = None,
        counted: str | None = None,
    ) -> None:
        """Apply each conversation's own `$set` stage (then `tail`), in one round trip:
        a bulk of single updates, or where each statement commits alone
        (`commit_per_statement`) multi-document updates that pick every document's
        values by its `_id` (shared/dialect.py), `BY_DOCUMENT_GROUP` documents each:
        SecantusDB evaluates a `$switch` branch by branch, so a group of n costs each
        document ~n/2 comparisons per field (measured: one update for 200 conversations
        spent more time in those than 200 statements had in their commits).
        `counted`: the mark each update's shift of status or assignee is recorded under."""
        tail = tail or []

        def pipeline(stage: dict[str, Any]) -> list[dict[str, Any]]:
            return counts.counted([stage], counted) if counted else [stage]

        if not self.dialect.commit_per_statement or len(stages) == 1:
            ops = [
                UpdateOne(by_id(workspace_id, c), [*pipeline(stage), *tail])
                for c, stage in stages.items()
            ]
            await self.conversations.bulk_write(ops, ordered=False)
            return
        ids = list(stages)
        groups = [ids[at : at + BY_DOCUMENT_GROUP] for at in range(0, len(ids), BY_DOCUMENT_GROUP)]
        grouped = [
            UpdateMany(
                by_id(workspace_id, {"$in": group}),
                [*pipeline(by_document({c: stages[c] for c in group})), *tail],
            )
            for group in groups
        ]
        await self.conversations.bulk_write(grouped, ordered=False)

    # --- lists ------------------------------------------------------------------------
    async def recent_page(
        self, workspace_id: str, filters: dict[str, Any], limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One inbox page newest activity first, and the next page's cursor (or None)."""
        query = {"workspace_id": workspace_id, **filters}
        return await recent_page(
            self.conversations, query, limit, cursor, self.dialect, by_label_index(query)
        )

    async def changed_since(
        self, workspace_id: str, since: datetime, after_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Up to `limit` conversations updated after (`since`, `after_id`), oldest first."""
        base = {"workspace_id": workspace_id}
        docs: list[dict[str, Any]] = []
        if after_id:  # the rest of a timestamp shared by the previous page's last row
            tie = {**base, "updated_at": since, "_id": {"$gt": after_id}}
            docs = await self.conversations.find(tie).sort("_id", 1).limit(limit).to_list(None)
        if len(docs) < limit:
            docs += (
                await self.conversations.find({**base, "updated_at": {"$gt": since}})
                .sort([("updated_at", 1), ("_id", 1)])
                .limit(limit - len(docs))
                .to_list(None)
            )
        return docs

    async def of_profile(
        self, workspace_id: str, profile_id: str | None, distinct_ids: list[str], limit: int
    ) -> list[dict[str, Any]]:
        """The latest `limit` conversations of each key (profile id, distinct ids) given;
        one equality query per key: an `$or` would not keep the index bounds everywhere."""
        queries: list[dict[str, Any]] = [{"profile_id": profile_id}] if profile_id else []
        if distinct_ids:
            queries.append({"distinct_id": {"$in": distinct_ids}})
        found: dict[str, dict[str, Any]] = {}
        for extra in queries:
            cursor = self.conversations.find({"workspace_id": workspace_id, **extra})
            async for doc in cursor.sort(ACTIVITY_ORDER).limit(limit):
                found[doc["_id"]] = doc
        return list(found.values())

    # --- merges, snoozes, assignment --------------------------------------------------
    async def move_profile(
        self, workspace_id: str, merged_id: str, survivor_id: str, shown: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """Re-point the merged-away profile's conversations: (how many, the first `shown`)."""
        query = {"workspace_id": workspace_id, "profile_id": merged_id}
        ids = [d["_id"] async for d in self.conversations.find(query, projection={"_id": 1})]
        if not ids:
            return 0, []
        await self.conversations.update_many(
            {**by_id(workspace_id, {"$in": ids}), "profile_id": merged_id},
            {"$set": {"profile_id": survivor_id, "updated_at": clock.now()}},
        )
        docs = await self.conversations.find(by_id(workspace_id, {"$in": ids[:shown]})).to_list(
            None
        )
        return len(ids), docs

    async def split_profile(
        self,
        workspace_id: str,
        survivor_id: str,
        profile_id: str,
        distinct_ids: list[str],
        shown: int,
    ) -> tuple[int, list[dict[str, Any]]]:
        """An undone merge: the survivor's conversations of the split-off distinct ids
        belong to the re-created profile again: (how many, the first `shown`)."""
        if not distinct_ids:
            return 0, []
        query = {
            "workspace_id": workspace_id,
            "distinct_id": {"$in": sorted(set(distinct_ids))},
            "profile_id": survivor_id,
        }
        ids = [d["_id"] async for d in self.conversations.find(query, projection={"_id": 1})]
        if not ids:
            return 0, []
        await self.conversations.update_many(
            {**by_id(workspace_id, {"$in": ids}), "profile_id": survivor_id},
            {"$set": {"profile_id": profile_id, "updated_at": clock.now()}},
        )
        docs = await self.conversations.find(by_id(workspace_id, {"$in": ids[:shown]})).to_list(
            None
        )
        return len(ids), docs

    async def due_snoozes_all_workspaces(self, at: datetime, limit: int) -> list[dict[str, Any]]:
        """Across workspaces, by design (one sweep for the deployment): snoozed
        conversations whose time came, as `{_id, workspace_id}`."""
        due = self.conversations.find(
            {"status": "snoozed", "snoozed_until": {"$lte": at}},
            projection={"_id": 1, "workspace_id": 1},
        )
        return await due.limit(limit).to_list(None)

    async def first_responses(self, workspace_id: str, since: datetime) -> list[float]:
        """Seconds from opening to the first agent reply, for conversations first answered
        since `since` (the (workspace, first_reply_at) index)."""
        cursor = self.conversations.find(
            {"workspace_id": workspace_id, "first_reply_at": {"$gte": since}},
            {"created_at": 1, "first_reply_at": 1, "_id": 0},
        )
        out: list[float] = []
        async for doc in cursor:
            opened, replied = doc.get("created_at"), doc.get("first_reply_at")
            if isinstance(opened, datetime) and isinstance(replied, datetime):
                out.append(max(0.0, (replied - opened).total_seconds()))
        return out

    async def assign_position(self, workspace_id: str) -> str | None:
        """The agent the workspace's round robin gave a conversation last."""
        state = await self.assign_state.find_one({"_id": workspace_id})
        return (state or {}).get("last_agent_id")

    async def set_assign_position(self, workspace_id: str, agent_id: str | None) -> None:
        await self.assign_state.update_one(
            {"_id": workspace_id}, {"$set": {"last_agent_id": agent_id}}, upsert=True
        )


def by_label_index(query: dict[str, Any]) -> tuple[dict[str, Any], Keep] | None:
    """A label-filtered inbox page on the windowed dialect: the `(workspace_id, labels,
    last_activity_at)` index reads the label's conversations, status and assignee are
    checked on them (measured: `view=all&status=open&label=` timed out at 3 s on 10,000
    conversations when sent whole)."""
    if "labels" not in query:
        return None
    indexed = {"workspace_id": query["workspace_id"], "labels": query["labels"]}
    rest = {k: v for k, v in query.items() if k not in indexed}

    def keep(doc: dict[str, Any]) -> bool:
        return all(doc.get(k) == v for k, v in rest.items())

    return indexed, keep

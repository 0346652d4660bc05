"""The chat service's collections, their indexes, and the writes that touch them.

(The inbound path's batch reads and inserts are in batch_store.py.)

conversations: one per (workspace, visitor); `last_seq` allocates message numbers
  atomically; `visitor_count` counts visitor messages (unread = count - read mark);
  `unfolded` lists the ids of messages given a seq and not folded in yet.
messages: unique per (workspace, conversation, client_msg_id) and per seq.
reads: one read mark per (workspace, conversation, agent).
assign_state: the round-robin position per workspace.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import ASCENDING as ASC
from pymongo import DESCENDING as DESC
from pymongo import IndexModel, UpdateOne
from pymongo.errors import DuplicateKeyError

from services.chat.fold import fold_stage
from services.chat.model import now

# Ascending on purpose: SecantusDB 0.7 treats `$gte` as `$gt` on a descending key
# after an equality prefix (rows on the window's edge vanished); MongoDB walks an
# ascending index backwards for the newest-first sort just as well.
_RECENT = [("last_activity_at", ASC), ("_id", ASC)]

INDEXES: dict[str, list[IndexModel]] = {
    "conversations": [
        IndexModel([("workspace_id", ASC), ("visitor_id", ASC)], unique=True),
        IndexModel([("workspace_id", ASC), *_RECENT]),
        IndexModel([("workspace_id", ASC), ("status", ASC), *_RECENT]),
        IndexModel([("workspace_id", ASC), ("assignee_id", ASC), *_RECENT]),
        IndexModel([("workspace_id", ASC), ("assignee_id", ASC), ("status", ASC), *_RECENT]),
        IndexModel([("workspace_id", ASC), ("updated_at", ASC), ("_id", ASC)]),
        IndexModel([("workspace_id", ASC), ("profile_id", ASC), *_RECENT]),
        IndexModel([("workspace_id", ASC), ("distinct_id", ASC)]),
        IndexModel([("status", ASC), ("snoozed_until", ASC)]),
    ],
    "messages": [
        IndexModel(
            [("workspace_id", ASC), ("conversation_id", ASC), ("client_msg_id", ASC)], unique=True
        ),
        IndexModel([("workspace_id", ASC), ("conversation_id", ASC), ("seq", ASC)], unique=True),
    ],
    "reads": [
        IndexModel(
            [("workspace_id", ASC), ("conversation_id", ASC), ("agent_id", ASC)], unique=True
        ),
    ],
}


def new_conversation(
    workspace_id: str, visitor_id: str, distinct_id: str, at: datetime
) -> dict[str, Any]:
    return {
        "_id": str(ObjectId()),
        "workspace_id": workspace_id,
        "visitor_id": visitor_id,
        "distinct_id": distinct_id,
        "profile_id": None,
        "email": None,
        "status": "open",
        "priority": "none",
        "assignee_id": None,
        "snoozed_until": None,
        "last_message": None,
        "last_seq": 0,
        "visitor_count": 0,
        "visitor_read_seq": 0,
        "last_activity_at": at,
        "created_at": at,
        "updated_at": at,
    }


def alloc_field() -> str:
    """A field name no other reservation uses."""
    return "alloc_" + uuid.uuid4().hex[:16]


@dataclass
class Stored:
    message: dict[str, Any]
    conversation: dict[str, Any]
    created: bool


class ChatStore:
    def __init__(self, db: AsyncIOMotorDatabase) -> None:
        self.db = db
        self.conversations = db["conversations"]
        self.messages = db["messages"]
        self.reads = db["reads"]
        self.assign_state = db["assign_state"]

    # --- conversations ----------------------------------------------------------------
    async def conversation(self, workspace_id: str, conversation_id: str) -> dict[str, Any] | None:
        return await self.conversations.find_one(
            {"_id": conversation_id, "workspace_id": workspace_id}
        )

    async def by_visitor(self, workspace_id: str, visitor_id: str) -> dict[str, Any] | None:
        return await self.conversations.find_one(
            {"workspace_id": workspace_id, "visitor_id": visitor_id}
        )

    async def set_fields(
        self, conversation_id: str, fields: dict[str, Any], guard: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Set `fields` if the guard holds; the document after, or None when it did not."""
        # update + read, not find_one_and_update: SecantusDB scans the collection for that
        result = await self.conversations.update_one(
            {"_id": conversation_id, **(guard or {})}, {"$set": {**fields, "updated_at": now()}}
        )
        if result.matched_count == 0:
            return None
        return await self.conversations.find_one({"_id": conversation_id})

    async def reserve(
        self, ids_by_conversation: dict[str, list[str]], field: str
    ) -> dict[str, int]:
        """Reserve a seq for each message id; conversation id -> the last seq reserved.

        One bulk pipeline update copies the new `last_seq` into `field` (named per
        batch, so concurrent reservations never read each other's) and lists the ids
        in `unfolded`; one read gets them back. The fold removes `field` again.
        """
        if not ids_by_conversation:
            return {}
        ops = [
            UpdateOne(
                {"_id": cid},
                [
                    {
                        "$set": {
                            "last_seq": {"$add": ["$last_seq", len(ids)]},
                            field: {"$add": ["$last_seq", len(ids)]},
                            "unfolded": {
                                "$concatArrays": [{"$ifNull": ["$unfolded", []]}, {"$literal": ids}]
                            },
                        }
                    }
                ],
            )
            for cid, ids in ids_by_conversation.items()
        ]
        await self.conversations.bulk_write(ops, ordered=False)
        wanted = list(ids_by_conversation)
        cursor = self.conversations.find({"_id": {"$in": wanted}}, projection={field: 1})
        found = {doc["_id"]: doc.get(field) async for doc in cursor}
        if any(not isinstance(found.get(cid), int) for cid in wanted):
            raise RuntimeError("a seq reservation was not found")
        return found

    async def fold(
        self, stages: dict[str, dict[str, Any]], drop: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """Apply one fold stage per conversation (and remove `drop`); id -> the doc after."""
        if not stages:
            return {}
        tail = [{"$unset": [drop]}] if drop else []
        ops = [UpdateOne({"_id": cid}, [stage, *tail]) for cid, stage in stages.items()]
        await self.conversations.bulk_write(ops, ordered=False)
        cursor = self.conversations.find({"_id": {"$in": list(stages)}})
        return {doc["_id"]: doc async for doc in cursor}

    # --- messages ---------------------------------------------------------------------
    async def append(
        self,
        conversation: dict[str, Any],
        author: dict[str, Any],
        text: str,
        client_msg_id: str,
        internal: bool = False,
        email: str | None = None,
    ) -> Stored:
        """Store one message once per client_msg_id, then fold it into its conversation.

        The seq is reserved atomically first: a crash before the insert leaves a
        gap, never a duplicate or a reordering; a retry folds a stored message that
        was not folded yet, and only once (see services/chat/fold.py).
        """
        ws, cid = conversation["workspace_id"], conversation["_id"]
        key = {"workspace_id": ws, "conversation_id": cid, "client_msg_id": client_msg_id}
        doc = await self.messages.find_one(key)
        created, field, dropped = False, None, []
        if doc is None:
            field = alloc_field()
            mid = str(ObjectId())
            seq = (await self.reserve({cid: [mid]}, field))[cid]
            doc = {
                "_id": mid,
                **key,
                "seq": seq,
                "author": author,
                "text": text,
                "created_at": now(),
                "internal": internal,
            }
            try:
                await self.messages.insert_one(doc)
                created = True
            except DuplicateKeyError:
                dropped = [mid]
                doc = await self.messages.find_one(key)
                if doc is None:
                    raise
        stage = fold_stage([doc], email, dropped=dropped)
        updated = await self.fold({cid: stage}, drop=field)
        return Stored(doc, updated[cid], created)

    async def page(
        self,
        workspace_id: str,
        conversation_id: str,
        limit: int,
        after_seq: int | None = None,
        before_seq: int | None = None,
        include_internal: bool = True,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Messages ascending by seq, and whether more lie beyond the page."""
        query: dict[str, Any] = {"workspace_id": workspace_id, "conversation_id": conversation_id}
        if not include_internal:
            query["internal"] = False
        if after_seq is not None:
            query["seq"] = {"$gt": after_seq}
            docs = await self.messages.find(query).sort("seq", ASC).limit(limit + 1).to_list(None)
            return docs[:limit], len(docs) > limit
        if before_seq is not None:
            query["seq"] = {"$lt": before_seq}
        docs = await self.messages.find(query).sort("seq", DESC).limit(limit + 1).to_list(None)
        return list(reversed(docs[:limit])), len(docs) > limit

    # --- read marks -------------------------------------------------------------------
    async def read_marks(
        self, workspace_id: str, agent_id: str, conversation_ids: list[str]
    ) -> dict[str, int]:
        """conversation id -> visitor messages the agent had seen at their read mark."""
        cursor = self.reads.find(
            {
                "workspace_id": workspace_id,
                "agent_id": agent_id,
                "conversation_id": {"$in": conversation_ids},
            },
            projection={"conversation_id": 1, "vcount": 1},
        )
        return {d["conversation_id"]: d.get("vcount", 0) async for d in cursor}

    async def mark_read(self, conversation: dict[str, Any], agent_id: str, seq: int) -> int:
        """Move the agent's mark forward to `seq`; the mark's seq afterwards."""
        ws, cid = conversation["workspace_id"], conversation["_id"]
        seq = min(seq, conversation.get("last_seq", 0))
        key = {"workspace_id": ws, "conversation_id": cid, "agent_id": agent_id}
        current = await self.reads.find_one(key)
        if current and current["seq"] >= seq:
            return current["seq"]
        vcount = await self.messages.count_documents(
            {
                "workspace_id": ws,
                "conversation_id": cid,
                "seq": {"$lte": seq},
                "author.kind": "visitor",
            }
        )
        try:
            await self.reads.update_one(
                {**key, "seq": {"$lt": seq}},
                {"$set": {"seq": seq, "vcount": vcount, "at": now()}},
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # a newer mark won the race
        return max(seq, current["seq"] if current else 0)

    async def agent_read_seq(self, workspace_id: str, conversation_id: str) -> int:
        """The furthest any agent has read in the conversation (0 when none has)."""
        mark = await self.reads.find_one(
            {"workspace_id": workspace_id, "conversation_id": conversation_id},
            projection={"seq": 1},
            sort=[("seq", DESC)],
        )
        return mark["seq"] if mark else 0

    async def unread(self, conversation: dict[str, Any], agent_id: str | None) -> int:
        if not agent_id:
            return conversation.get("visitor_count", 0)
        marks = await self.read_marks(conversation["workspace_id"], agent_id, [conversation["_id"]])
        return max(0, conversation.get("visitor_count", 0) - marks.get(conversation["_id"], 0))

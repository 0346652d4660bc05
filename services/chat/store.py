"""The chat service's collections, their indexes, and every write that touches them.

conversations: one per (workspace, visitor); `last_seq` allocates message numbers
  atomically; `visitor_count` counts visitor messages (unread = count - read mark).
messages: unique per (workspace, conversation, client_msg_id) and per seq.
reads: one read mark per (workspace, conversation, agent).
assign_state: the round-robin position per workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import ASCENDING as ASC
from pymongo import DESCENDING as DESC
from pymongo import IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.chat.model import PREVIEW, now

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

    async def visitor_conversation(
        self, workspace_id: str, visitor_id: str, distinct_id: str
    ) -> dict[str, Any]:
        """The visitor's one conversation, created at their first message."""
        for _ in range(2):
            doc = await self.by_visitor(workspace_id, visitor_id)
            if doc is None:
                doc = new_conversation(workspace_id, visitor_id, distinct_id, now())
                try:
                    await self.conversations.insert_one(doc)
                except DuplicateKeyError:
                    continue  # a replica created it a moment ago
                return doc
            if doc.get("distinct_id") != distinct_id:
                # the visitor identified as someone else: resolve the person again
                doc = await self.conversations.find_one_and_update(
                    {"_id": doc["_id"]},
                    {"$set": {"distinct_id": distinct_id, "profile_id": None, "updated_at": now()}},
                    return_document=ReturnDocument.AFTER,
                )
            return doc
        raise RuntimeError("conversation could not be created")

    async def set_fields(
        self, conversation_id: str, fields: dict[str, Any], guard: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        return await self.conversations.find_one_and_update(
            {"_id": conversation_id, **(guard or {})},
            {"$set": {**fields, "updated_at": now()}},
            return_document=ReturnDocument.AFTER,
        )

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
        """Store a message once per client_msg_id, then fold it into its conversation.

        The seq comes from an atomic $inc; a crash between allocation and insert
        leaves a gap, never a duplicate or a reordering. `applied` marks a message
        whose conversation update is done, so a redelivery finishes a half-done one.
        """
        ws, cid = conversation["workspace_id"], conversation["_id"]
        key = {"workspace_id": ws, "conversation_id": cid, "client_msg_id": client_msg_id}
        doc = await self.messages.find_one(key)
        created = False
        if doc is None:
            allocated = await self.conversations.find_one_and_update(
                {"_id": cid},
                {"$inc": {"last_seq": 1}},
                projection={"last_seq": 1},
                return_document=ReturnDocument.AFTER,
            )
            doc = {
                "_id": str(ObjectId()),
                **key,
                "seq": allocated["last_seq"],
                "author": author,
                "text": text,
                "created_at": now(),
                "internal": internal,
                "applied": False,
            }
            try:
                await self.messages.insert_one(doc)
                created = True
            except DuplicateKeyError:
                doc = await self.messages.find_one(key)
                if doc is None:
                    raise
        if doc.get("applied"):
            return Stored(doc, await self.conversations.find_one({"_id": cid}), created)
        updated = await self._fold(cid, doc, email)
        await self.messages.update_one({"_id": doc["_id"]}, {"$set": {"applied": True}})
        return Stored(doc, updated, created)

    async def _fold(self, cid: str, msg: dict[str, Any], email: str | None) -> dict[str, Any]:
        kind = msg["author"]["kind"]
        preview = {
            "text": msg["text"][:PREVIEW],
            "author_kind": kind,
            "created_at": msg["created_at"],
            "seq": msg["seq"],
            "internal": msg["internal"],
        }
        newer = {"$gt": [msg["seq"], {"$ifNull": ["$last_message.seq", 0]}]}
        changes: dict[str, Any] = {
            "last_message": {"$cond": [newer, {"$literal": preview}, "$last_message"]},
            "last_activity_at": {"$max": ["$last_activity_at", msg["created_at"]]},
            "updated_at": now(),
        }
        if kind == "visitor":
            changes["visitor_count"] = {"$add": [{"$ifNull": ["$visitor_count", 0]}, 1]}
            wake = {"$in": ["$status", ["resolved", "snoozed"]]}
            changes["status"] = {"$cond": [wake, "open", "$status"]}
            changes["snoozed_until"] = {"$cond": [wake, None, "$snoozed_until"]}
        elif kind == "agent" and not msg["internal"]:
            changes["assignee_id"] = {
                "$ifNull": ["$assignee_id", {"$literal": msg["author"]["id"]}]
            }
        if email:
            changes["email"] = {"$literal": email}
        return await self.conversations.find_one_and_update(
            {"_id": cid}, [{"$set": changes}], return_document=ReturnDocument.AFTER
        )

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

    async def unread(self, conversation: dict[str, Any], agent_id: str | None) -> int:
        if not agent_id:
            return conversation.get("visitor_count", 0)
        marks = await self.read_marks(conversation["workspace_id"], agent_id, [conversation["_id"]])
        return max(0, conversation.get("visitor_count", 0) - marks.get(conversation["_id"], 0))

"""Messages and read marks: pages by seq, read marks, unread counts (messages are stored a
batch at a time by services/chat/inbound.py, the agents' too)."""

from __future__ import annotations

from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo import ASCENDING as ASC
from pymongo import DESCENDING as DESC
from pymongo.errors import DuplicateKeyError

from services.chat.store.schema import by_id
from shared import clock


class Messages:
    conversations: AsyncIOMotorCollection
    messages: AsyncIOMotorCollection
    reads: AsyncIOMotorCollection

    # --- messages ---------------------------------------------------------------------
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
                {"$set": {"seq": seq, "vcount": vcount, "at": clock.now()}},
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # a newer mark won the race
        # the furthest any agent read, on the conversation: a widget's hello reads it there
        await self.conversations.update_one(by_id(ws, cid), {"$max": {"agent_read_seq": seq}})
        return max(seq, current["seq"] if current else 0)

    async def agent_read_seq(self, conversation: dict[str, Any]) -> int:
        """The furthest any agent has read in the conversation (0 when none has): kept on
        the conversation by `mark_read`; asked of the marks for one from before that."""
        if isinstance(conversation.get("agent_read_seq"), int):
            return int(conversation["agent_read_seq"])
        mark = await self.reads.find_one(
            {"workspace_id": conversation["workspace_id"], "conversation_id": conversation["_id"]},
            projection={"seq": 1},
            sort=[("seq", DESC)],
        )
        return mark["seq"] if mark else 0

    async def unread(self, conversation: dict[str, Any], agent_id: str | None) -> int:
        if not agent_id:
            return conversation.get("visitor_count", 0)
        marks = await self.read_marks(conversation["workspace_id"], agent_id, [conversation["_id"]])
        return max(0, conversation.get("visitor_count", 0) - marks.get(conversation["_id"], 0))

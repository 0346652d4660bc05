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
from shared.dialect import Dialect


class Messages:
    conversations: AsyncIOMotorCollection
    messages: AsyncIOMotorCollection
    reads: AsyncIOMotorCollection
    dialect: Dialect

    # --- messages ---------------------------------------------------------------------
    async def page(
        self,
        workspace_id: str,
        conversation_id: str,
        limit: int,
        after_seq: int | None = None,
        before_seq: int | None = None,
        include_internal: bool = True,
        last_seq: int | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Messages ascending by seq, and whether more lie beyond the page.

        Without `after_seq` the page is the newest below `before_seq` (or all); given the
        conversation's `last_seq`, on a dialect that sorts a whole match before its
        limit (`windowed_recent_pages`) it is read through seq windows instead."""
        query: dict[str, Any] = {"workspace_id": workspace_id, "conversation_id": conversation_id}
        if not include_internal:
            query["internal"] = False
        if after_seq is not None:
            query["seq"] = {"$gt": after_seq}
            docs = await self.messages.find(query).sort("seq", ASC).limit(limit + 1).to_list(None)
            return docs[:limit], len(docs) > limit
        tops = [
            s for s in (before_seq, None if last_seq is None else last_seq + 1) if s is not None
        ]
        top = min(tops) if tops else None
        if top is not None and self.dialect.windowed_recent_pages:
            docs = await self._newest_in_windows(query, top, limit + 1)
        else:
            if before_seq is not None:
                query["seq"] = {"$lt": before_seq}
            found = self.messages.find(query).sort("seq", DESC).limit(limit + 1)
            docs = await found.to_list(None)
        return list(reversed(docs[:limit])), len(docs) > limit

    async def _newest_in_windows(
        self, query: dict[str, Any], top: int, need: int
    ) -> list[dict[str, Any]]:
        """The `need` highest seqs below `top`, newest first, read as bounded seq ranges
        (`need` wide, then four times wider each: seqs have gaps only where a reservation
        was lost or a note filtered out), so the database sorts only what a range holds."""
        docs: list[dict[str, Any]] = []
        upper, width = top, need
        while len(docs) < need and upper > 1:
            lower = max(upper - width, 1)
            window = {**query, "seq": {"$gte": lower, "$lt": upper}}
            found = self.messages.find(window).sort("seq", DESC).limit(need - len(docs))
            docs += await found.to_list(None)
            upper, width = lower, width * 4
        return docs

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

"""The inbound path's reads and inserts, a batch at a time: one round trip each.

`$in` reads, unordered `insert_many` and the bulk `reserve` / `fold` of
conversations.py cost about one single-document round trip per batch plus a small
per-document share, on any dialect (SecantusDB's `find_one_and_update` scans the
collection: shared/dialect.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo.errors import BulkWriteError

from services.chat.store import counts
from services.chat.store.schema import by_id

DUPLICATE_KEY = 11000


def _only_duplicates(exc: BulkWriteError) -> list[int]:
    """Indexes of the documents refused as duplicates; re-raise anything else."""
    errors = exc.details.get("writeErrors", [])
    if exc.details.get("writeConcernErrors") or any(e.get("code") != DUPLICATE_KEY for e in errors):
        raise exc
    return [e["index"] for e in errors]


class BatchWrites(counts.Counts):
    conversations: AsyncIOMotorCollection
    messages: AsyncIOMotorCollection

    async def conversations_of(
        self, workspace_id: str, visitor_ids: list[str]
    ) -> dict[str, dict[str, Any]]:
        """visitor id -> their conversation, for those that have one."""
        cursor = self.conversations.find(
            {"workspace_id": workspace_id, "visitor_id": {"$in": visitor_ids}}
        )
        return {doc["visitor_id"]: doc async for doc in cursor}

    async def conversations_by_id(
        self, workspace_id: str, conversation_ids: list[str]
    ) -> dict[str, dict[str, Any]]:
        """conversation id -> the conversation, for those of the workspace that exist."""
        cursor = self.conversations.find(by_id(workspace_id, {"$in": conversation_ids}))
        return {doc["_id"]: doc async for doc in cursor}

    async def create_conversations(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert new conversations (each counted in the inbox counts); the ones another
        worker created first are returned."""
        if not docs:
            return []
        lost: list[dict[str, Any]] = []
        try:
            await self.conversations.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            lost = [docs[i] for i in _only_duplicates(exc)]
        lost_ids = {d["_id"] for d in lost}
        await self.add_counts(
            docs[0]["workspace_id"], counts.born(d for d in docs if d["_id"] not in lost_ids)
        )
        return lost

    async def existing_messages(
        self, workspace_id: str, client_ids: dict[str, list[str]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """(conversation id, client_msg_id) -> the stored message, for those stored.

        One query per conversation, side by side: SecantusDB scans the collection
        for an `$in` on both keys (or an `$or` of them), while an equality on the
        conversation keeps the index bounds.
        """

        async def of(cid: str, ids: list[str]) -> list[dict[str, Any]]:
            query: dict[str, Any] = {"workspace_id": workspace_id, "conversation_id": cid}
            query["client_msg_id"] = ids[0] if len(ids) == 1 else {"$in": ids}
            return await self.messages.find(query).to_list(None)

        found = await asyncio.gather(*(of(cid, ids) for cid, ids in client_ids.items() if ids))
        return {(m["conversation_id"], m["client_msg_id"]): m for docs in found for m in docs}

    async def insert_messages(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert unordered; the documents refused because their client id was stored first."""
        if not docs:
            return []
        try:
            await self.messages.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            return [docs[i] for i in _only_duplicates(exc)]
        return []

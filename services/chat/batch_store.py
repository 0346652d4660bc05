"""The inbound path's writes, a batch at a time: a handful of round trips per batch.

SecantusDB answers `find_one_and_update` by scanning the collection, so nothing
here uses it: seqs are allocated by a bulk pipeline update that also copies the
new `last_seq` into a field named after this batch, read back with one `find`
and removed again by the fold. Bulk writes, `insert_many` and `$in` reads cost
about as much as one single-document round trip per batch.

The protocol per message stays the one `ChatStore.append` follows: allocate a
seq, insert with `applied: false`, fold into the conversation, mark applied. A
crash between steps leaves a seq gap or an unapplied message that the
redelivery finishes; never a duplicate seq or a message folded twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from services.chat.store import ChatStore, new_conversation

DUPLICATE_KEY = 11000


def _only_duplicates(exc: BulkWriteError) -> list[int]:
    """Indexes of the documents refused as duplicates; re-raise anything else."""
    errors = exc.details.get("writeErrors", [])
    if any(e.get("code") != DUPLICATE_KEY for e in errors) or exc.details.get("writeConcernErrors"):
        raise exc
    return [e["index"] for e in errors]


class BatchWrites:
    def __init__(self, store: ChatStore) -> None:
        self.conversations = store.conversations
        self.messages = store.messages

    async def conversations_of(
        self, workspace_id: str, visitor_ids: list[str]
    ) -> dict[str, dict[str, Any]]:
        """visitor id -> their conversation, for those that have one."""
        cursor = self.conversations.find(
            {"workspace_id": workspace_id, "visitor_id": {"$in": visitor_ids}}
        )
        return {doc["visitor_id"]: doc async for doc in cursor}

    async def create(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert new conversations; the ones another worker created first are returned."""
        if not docs:
            return []
        try:
            await self.conversations.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            return [docs[i] for i in _only_duplicates(exc)]
        return []

    async def allocate(self, counts: dict[str, int], field: str) -> dict[str, int]:
        """conversation id -> the last of `count` seqs reserved; `field` goes with the fold."""
        if not counts:
            return {}
        ops = [
            UpdateOne(
                {"_id": cid},
                [
                    {
                        "$set": {
                            "last_seq": {"$add": ["$last_seq", n]},
                            field: {"$add": ["$last_seq", n]},
                        }
                    }
                ],
            )
            for cid, n in counts.items()
        ]
        await self.conversations.bulk_write(ops, ordered=False)
        cursor = self.conversations.find({"_id": {"$in": list(counts)}}, projection={field: 1})
        found = {doc["_id"]: doc.get(field) async for doc in cursor}
        missing = [cid for cid in counts if not isinstance(found.get(cid), int)]
        if missing:
            raise RuntimeError(f"seq allocation not found for {len(missing)} conversations")
        return found

    async def existing_messages(
        self, workspace_id: str, conversation_ids: list[str], client_msg_ids: list[str]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """(conversation id, client_msg_id) -> the stored message, for those stored."""
        if not conversation_ids or not client_msg_ids:
            return {}
        cursor = self.messages.find(
            {
                "workspace_id": workspace_id,
                "conversation_id": {"$in": conversation_ids},
                "client_msg_id": {"$in": client_msg_ids},
            }
        )
        return {(m["conversation_id"], m["client_msg_id"]): m async for m in cursor}

    async def insert_messages(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert unordered; the documents refused because their client id was stored first."""
        if not docs:
            return []
        try:
            await self.messages.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            return [docs[i] for i in _only_duplicates(exc)]
        return []

    async def fold(
        self, stages: dict[str, dict[str, Any]], drop: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """Apply one fold stage per conversation (removing the field `drop`); id -> doc after."""
        if not stages:
            return {}
        tail = [{"$unset": [drop]}] if drop else []
        ops = [UpdateOne({"_id": cid}, [stage, *tail]) for cid, stage in stages.items()]
        await self.conversations.bulk_write(ops, ordered=False)
        cursor = self.conversations.find({"_id": {"$in": list(stages)}})
        return {doc["_id"]: doc async for doc in cursor}

    async def mark_applied(self, message_ids: list[str]) -> None:
        if message_ids:
            await self.messages.update_many(
                {"_id": {"$in": message_ids}}, {"$set": {"applied": True}}
            )


def alloc_field() -> str:
    return "alloc_" + uuid.uuid4().hex[:16]


__all__ = ["BatchWrites", "new_conversation"]

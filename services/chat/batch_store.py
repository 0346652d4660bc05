"""The inbound path's reads and inserts, a batch at a time: one round trip each.

SecantusDB answers `find_one_and_update` by scanning the collection, so the
inbound path never uses it: `$in` reads, unordered `insert_many` and the bulk
`ChatStore.reserve` / `ChatStore.fold` cost about one single-document round trip
per batch plus a small per-document share.
"""

from __future__ import annotations

from typing import Any

from pymongo.errors import BulkWriteError

from services.chat.store import ChatStore

DUPLICATE_KEY = 11000


def _only_duplicates(exc: BulkWriteError) -> list[int]:
    """Indexes of the documents refused as duplicates; re-raise anything else."""
    errors = exc.details.get("writeErrors", [])
    if exc.details.get("writeConcernErrors") or any(e.get("code") != DUPLICATE_KEY for e in errors):
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

"""Threads: a conversation's reply address and the Message-IDs of its emails."""

from __future__ import annotations

import secrets
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo.errors import DuplicateKeyError

# the reply address id: 16 characters of lower-case base32 (80 bits), safe when lower-cased
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def new_thread_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(16))


class Threads:
    threads: AsyncIOMotorCollection

    async def thread_of(self, pending: dict[str, Any]) -> dict[str, Any]:
        """The conversation's thread, made on its first email."""
        ws, cid = pending["workspace_id"], pending["_id"]
        found: dict[str, Any] | None = await self.threads.find_one(
            {"workspace_id": ws, "conversation_id": cid}
        )
        if found is not None:
            return found
        doc = {
            "_id": new_thread_id(),
            "workspace_id": ws,
            "conversation_id": cid,
            "visitor_id": pending["visitor_id"],
            "distinct_id": pending.get("distinct_id") or pending["visitor_id"],
            "message_ids": [],
        }
        try:
            await self.threads.insert_one(doc)
        except DuplicateKeyError:  # another replica made it first
            theirs: dict[str, Any] | None = await self.threads.find_one(
                {"workspace_id": ws, "conversation_id": cid}
            )
            if theirs is not None:
                return theirs
        return doc

    async def thread(self, thread_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.threads.find_one({"_id": thread_id})
        return doc

    async def mailing(self, thread_id: str, to: str) -> None:
        """Before a send: the address a reply must come from."""
        await self.threads.update_one({"_id": thread_id}, {"$set": {"emailed": to}})

    async def add_message_id(self, thread_id: str, message_id: str) -> None:
        """After a send: the thread's next email replies to this one (a resend adds none)."""
        await self.threads.update_one(
            {"_id": thread_id}, {"$addToSet": {"message_ids": message_id}}
        )

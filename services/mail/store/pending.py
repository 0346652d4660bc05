"""Pending emails, per conversation: messages a person has not seen yet (`msgs.<seq>`),
the seen mark, the highest seq already emailed, when the next email is due.

One box for the visitor (agent messages they did not see) and one for the agents
(visitor messages no agent read): the same rules, two collections."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection

from shared import clock


class PendingBox:
    def __init__(self, collection: AsyncIOMotorCollection) -> None:
        self.pending = collection

    async def add_unseen(
        self, conversation: dict[str, Any], message: dict[str, Any], due_at: datetime
    ) -> None:
        """Idempotent: the message is keyed by its seq, the due time only moves earlier."""
        await self.pending.update_one(
            {"_id": conversation["conversation_id"]},
            {
                "$set": {
                    **{k: conversation[k] for k in conversation if k != "conversation_id"},
                    f"msgs.{message['seq']}": message,
                },
                "$min": {"due_at": due_at},
                "$setOnInsert": {"seen_seq": 0, "mailed_seq": 0},
            },
            upsert=True,
        )

    async def mark_seen(self, conversation_id: str, workspace_id: str, seq: int) -> None:
        await self.pending.update_one(
            {"_id": conversation_id},
            {
                "$max": {"seen_seq": seq},
                "$setOnInsert": {"workspace_id": workspace_id, "mailed_seq": 0},
            },
            upsert=True,
        )

    async def claim_due(self, lease_s: float, limit: int) -> list[dict[str, Any]]:
        """Take a lease on conversations whose email is due (several mail replicas share).

        A read of the candidates, then one conditional `update_one` each: the replica whose
        update matched holds the lease (no `find_one_and_update`: SecantusDB scans for it).
        """
        now = clock.now()
        free = {"$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]}
        cursor = self.pending.find({"due_at": {"$lte": now}, **free}).sort("due_at", 1)
        claimed = []
        for doc in await cursor.to_list(limit):
            until = now + timedelta(seconds=lease_s)
            taken = await self.pending.update_one(
                {"_id": doc["_id"], **free}, {"$set": {"lease_until": until}}
            )
            if taken.modified_count == 1:
                claimed.append(doc)
        return claimed

    async def settle(
        self, conversation_id: str, mailed_seq: int, next_due: datetime | None
    ) -> None:
        """After an email (or a decision not to send one): what is mailed, when next due.

        Not due is an absent `due_at` (never null: `$min` keeps a null over any date)."""
        change: dict[str, Any] = {
            "$max": {"mailed_seq": mailed_seq},
            "$set": {"lease_until": None},
        }
        if next_due is None:
            change["$unset"] = {"due_at": ""}
        else:
            change["$set"]["due_at"] = next_due
        await self.pending.update_one({"_id": conversation_id}, change)

    async def forget_up_to(self, conversation_id: str, seqs: list[int]) -> None:
        """Drop messages already seen or mailed (they never go out again)."""
        if seqs:
            await self.pending.update_one(
                {"_id": conversation_id}, {"$unset": {f"msgs.{s}": "" for s in seqs}}
            )

    async def pending_of(self, conversation_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.pending.find_one({"_id": conversation_id})
        return doc

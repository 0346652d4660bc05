"""Seeding shared by the inbox benchmarks: a year of conversations ending now."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection

from services.chat.store import new_conversation
from shared.workspaces import DEFAULT_WORKSPACE_ID as WS

STATUSES = ["open"] * 5 + ["resolved"] * 3 + ["pending", "snoozed"]
BATCH = 5000


def conversation_docs(
    count: int, start: int, agents: list[str], rng: random.Random
) -> list[dict[str, Any]]:
    """Conversations as a live inbox has them: mostly open, 80% assigned, spread over a year."""
    end = datetime.now(UTC).replace(microsecond=0)
    docs = []
    for n in range(start, start + count):
        at = end - timedelta(seconds=rng.randrange(0, 365 * 86400))
        doc = new_conversation(WS, f"v{n:07d}", f"d{n:07d}", at)
        doc["status"] = rng.choice(STATUSES)
        doc["assignee_id"] = rng.choice(agents) if rng.random() < 0.8 else None
        doc["last_seq"] = doc["visitor_count"] = rng.randrange(1, 30)
        doc["last_message"] = {
            "text": "Hello, I have a question about my invoice",
            "author_kind": "visitor",
            "created_at": at,
            "seq": doc["last_seq"],
            "internal": False,
        }
        docs.append(doc)
    return docs


async def seed_conversations(
    collection: AsyncIOMotorCollection, count: int, agents: list[str], rng: random.Random
) -> None:
    """insert_many in batches, into a collection whose indexes are already in place."""
    for start in range(0, count, BATCH):
        docs = conversation_docs(min(BATCH, count - start), start, agents, rng)
        await collection.insert_many(docs, ordered=False)

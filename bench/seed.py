"""Seeding shared by the inbox benchmarks: a year of conversations ending now."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorCollection, AsyncIOMotorDatabase

from services.chat.store import new_conversation
from services.identity.model import minute, new_person
from services.identity.store.core import derived_id
from shared import clock
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


# --- the threads behind the conversations, and the people behind them -----------------------

VISITOR_TEXT = "Hello, I have a question about my invoice"
AGENT_TEXT = "Sure, let me look that up for you"
FIRST_NAMES = ["anna", "ben", "carla", "dev", "emma", "farid", "grace", "hugo", "ines", "jon"]
LAST_NAMES = ["smith", "garcia", "muller", "rossi", "kowalski", "nguyen", "okafor", "silva"]


def thread_lengths(
    conversations: int, messages: int, long_share: float, rng: random.Random
) -> list[int]:
    """Messages per conversation: 0.1 % of them long threads holding `long_share` of all
    messages, the others around the mean of the rest (at least one each)."""
    long_count = max(1, conversations // 1000)
    in_long = int(messages * long_share)
    short = max(1, (messages - in_long) // max(1, conversations - long_count))
    lengths = [max(1, in_long // long_count)] * long_count
    lengths += [
        max(1, short + rng.randint(-(short // 2), short // 2))
        for _ in range(conversations - long_count)
    ]
    rng.shuffle(lengths)
    return lengths


def message_docs(conversation: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """A conversation's messages as chat stores them (`_message` in services/chat/inbound.py,
    `Messages.append`): visitor and agent turns, seq 1..count, the last at its activity."""
    end, cid, visitor = (
        conversation["last_activity_at"],
        conversation["_id"],
        conversation["visitor_id"],
    )
    docs = []
    for seq in range(1, count + 1):
        by_visitor = seq % 2 == 1 or seq == count
        author = (
            {"kind": "visitor", "id": visitor, "name": None, "avatar": None}
            if by_visitor
            else {"kind": "agent", "id": "agent-00", "name": "Agent", "avatar": None}
        )
        docs.append(
            {
                "_id": str(ObjectId()),
                "workspace_id": conversation["workspace_id"],
                "conversation_id": cid,
                "client_msg_id": f"m{seq:06d}",
                "seq": seq,
                "author": author,
                "text": VISITOR_TEXT if by_visitor else AGENT_TEXT,
                "created_at": end - timedelta(seconds=30 * (count - seq)),
                "internal": False,
            }
        )
    return docs


def threaded(conversation: dict[str, Any], messages: list[dict[str, Any]]) -> None:
    """The conversation's counters and last message as chat's fold leaves them."""
    last = messages[-1]
    conversation["last_seq"] = last["seq"]
    conversation["visitor_count"] = sum(1 for m in messages if m["author"]["kind"] == "visitor")
    conversation["last_message"] = {
        "text": last["text"],
        "author_kind": last["author"]["kind"],
        "created_at": last["created_at"],
        "seq": last["seq"],
        "internal": False,
    }


async def seed_chat(
    db: AsyncIOMotorDatabase,
    conversations: int,
    messages: int,
    agents: list[str],
    rng: random.Random,
    long_share: float = 0.2,
) -> list[dict[str, Any]]:
    """Conversations with their threads (insert_many into chat's indexed collections);
    the long threads' conversations are returned (the others are as `conversation_docs`)."""
    lengths = thread_lengths(conversations, messages, long_share, rng)
    longest = max(lengths)
    long_ones = []
    step = max(1, BATCH // max(1, messages // max(1, conversations)))
    for start in range(0, conversations, step):
        convs = conversation_docs(min(step, conversations - start), start, agents, rng)
        thread: list[dict[str, Any]] = []
        for n, conv in enumerate(convs):
            docs = message_docs(conv, lengths[start + n])
            threaded(conv, docs)
            thread += docs
            if lengths[start + n] == longest:
                long_ones.append(conv)
        await db["conversations"].insert_many(convs, ordered=False)
        for at in range(0, len(thread), BATCH):
            await db["messages"].insert_many(thread[at : at + BATCH], ordered=False)
    return long_ones


def person_docs(count: int, start: int, rng: random.Random) -> list[list[dict[str, Any]]]:
    """Identity's person and distinct-id records for the visitors `d{n}` of the seeded
    conversations: a third named contacts with an email, the rest anonymous visitors."""
    end = datetime.now(UTC).replace(microsecond=0)
    persons, dids = [], []
    for n in range(start, start + count):
        did = f"d{n:07d}"
        pid = derived_id("p", WS, did)
        at = end - timedelta(seconds=rng.randrange(0, 365 * 86400))
        person = new_person(pid, WS, at)
        seen = minute(clock.iso(at))
        person.update(first_seen=seen, last_seen=seen, version=1)
        if n % 3 == 0:
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            email = f"{name.replace(' ', '.')}{n}@example.com"
            person.update(name=name.title(), email=email, emails=[email], stage="contact")
            person["traits"] = {"name": name.title(), "email": email}
            person["search"] = sorted({email, name, *name.split()})
        persons.append(person)
        dids.append(
            {
                "workspace_id": WS,
                "distinct_id": did,
                "person_id": pid,
                "visitor_id": derived_id("v", WS, did),
                "kind": "anonymous",
                "seen_at": seen,
                "created_at": at,
            }
        )
    return [persons, dids]


async def seed_people(db: AsyncIOMotorDatabase, count: int, rng: random.Random) -> None:
    for start in range(0, count, BATCH):
        persons, dids = person_docs(min(BATCH, count - start), start, rng)
        await db["persons"].insert_many(persons, ordered=False)
        await db["distinct_ids"].insert_many(dids, ordered=False)

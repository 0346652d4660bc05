"""Visitor messages per second through the chat service, against the database it sits on.

Baselines on the same SecantusDB, same run: sequential single-document writes
(`insert_one`, what a message cost several of before batching), the same with 16
in flight, and `insert_many(200)` (the floor: every message is at least one
stored document). Then the real chat app consumes visitor messages published to
its JetStream stream, and a message counts once its `message` frame reached the
visitor's live subject (persisted, seq allocated, conversation folded, published):
  1. one visitor typing alone (latency of a single message, no batching to hide in);
  2. a burst of N messages over M conversations (several per conversation);
  3. a burst of N first messages from N new visitors (one conversation each).
Afterwards every conversation is checked: all messages stored once, seqs 1..k in
the order sent.

    python -m bench.chat_inbound [--messages 2000] [--conversations 200]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bench.common import Timer, rate, report, servers, summary_ms
from services.chat.app import create_app
from shared import db
from shared.bus import Bus
from shared.settings import Settings
from shared.subjects import Subjects
from shared.workspaces import DEFAULT_WORKSPACE_ID as WS


async def baselines(mongo_url: str, count: int) -> tuple[float, float, float]:
    client = db.connect(mongo_url)
    coll = client["bench_raw"]["messages"]

    def doc(n: int) -> dict[str, Any]:
        return {
            "workspace_id": WS,
            "conversation_id": f"c{n % 100}",
            "client_msg_id": f"m{n}-{uuid.uuid4().hex[:6]}",
            "seq": n,
            "text": "Hello, do you ship to Norway?",
            "created_at": datetime.now(UTC),
        }

    single = min(count, 1000)
    with Timer() as one:
        for n in range(single):
            await coll.insert_one(doc(n))
    sem = asyncio.Semaphore(16)

    async def limited(n: int) -> None:
        async with sem:
            await coll.insert_one(doc(n))

    with Timer() as parallel:
        await asyncio.gather(*(limited(n) for n in range(single)))
    docs = [doc(n) for n in range(count)]
    with Timer() as many:
        for start in range(0, count, 200):
            await coll.insert_many(docs[start : start + 200], ordered=False)
    await coll.drop()
    client.close()
    return rate(single, one.seconds), rate(single, parallel.seconds), rate(count, many.seconds)


class Acks:
    """Arrival time of each visitor `message` frame, by client_msg_id."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future] = {}

    async def on(self, frame: dict[str, Any]) -> None:
        if frame.get("type") != "message":
            return
        cmid = frame["message"]["client_msg_id"]
        self.at.setdefault(cmid, time.perf_counter())
        if (waiter := self.waiters.pop(cmid, None)) and not waiter.done():
            waiter.set_result(None)

    async def all_of(self, cmids: list[str], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while any(c not in self.at for c in cmids):
            if time.perf_counter() > deadline:
                missing = sum(c not in self.at for c in cmids)
                raise TimeoutError(f"{missing} of {len(cmids)} messages never came back")
            await asyncio.sleep(0.02)


def payload(visitor: str, cmid: str, n: int) -> dict[str, Any]:
    return {
        "type": "visitor.message",
        "workspace_id": WS,
        "visitor_id": visitor,
        "distinct_id": visitor,
        "client_msg_id": cmid,
        "text": f"message {n}: hello, is the blue one in stock?",
        "sent_at": datetime.now(UTC).isoformat(),
        "page_url": "https://shop.example/products/blue",
    }


async def single_visitor(bus: Bus, acks: Acks, count: int) -> list[float]:
    latencies = []
    for n in range(count):
        cmid = f"solo-{n}"
        started = time.perf_counter()
        await bus.publish_durable(
            bus.subjects.chat_inbound(WS), payload("v-solo", cmid, n), f"{WS}:v-solo:{cmid}"
        )
        await acks.all_of([cmid], timeout=30)
        latencies.append(acks.at[cmid] - started)
    return latencies


async def burst(
    bus: Bus, acks: Acks, tag: str, count: int, conversations: int
) -> tuple[float, list[float], dict[str, list[str]]]:
    """Publish `count` messages round-robin over `conversations` visitors; rate and latencies."""
    sent: dict[str, list[str]] = defaultdict(list)
    items = []
    for n in range(count):
        visitor = f"v-{tag}-{n % conversations}"
        cmid = f"{tag}-{n}"
        sent[visitor].append(cmid)
        items.append(
            (bus.subjects.chat_inbound(WS), payload(visitor, cmid, n), f"{WS}:{visitor}:{cmid}")
        )
    published: dict[str, float] = {}
    started = time.perf_counter()
    for start in range(0, count, 500):
        chunk = items[start : start + 500]
        await bus.publish_durable_many(chunk)
        at = time.perf_counter()
        for _, p, _ in chunk:
            published[p["client_msg_id"]] = at
    cmids = [cmid for cmids in sent.values() for cmid in cmids]
    await acks.all_of(cmids, timeout=60 + count / 20)
    seconds = max(acks.at[c] for c in cmids) - started
    return rate(count, seconds), [acks.at[c] - published[c] for c in cmids], sent


async def check(database: Any, sent: dict[str, list[str]]) -> None:
    """Every message stored once, seqs increasing in the order each visitor sent them."""
    conversations = database["conversations"]
    messages = database["messages"]
    for visitor, cmids in sent.items():
        conv = await conversations.find_one({"workspace_id": WS, "visitor_id": visitor})
        stored = await messages.find({"conversation_id": conv["_id"]}).sort("seq", 1).to_list(None)
        got = [m["client_msg_id"] for m in stored]
        assert got == cmids, (visitor, got[:5], cmids[:5])
        assert conv["last_seq"] >= len(cmids) and conv["visitor_count"] == len(cmids), conv
        assert conv["last_message"]["seq"] == stored[-1]["seq"], conv


async def run(nats_url: str, mongo_url: str, data_dir, count: int, conversations: int) -> None:
    single_rate, parallel_rate, many_rate = await baselines(mongo_url, count)
    prefix = "b" + uuid.uuid4().hex[:8]
    settings = Settings(
        data_dir=data_dir,
        nats_url=nats_url,
        mongo_url=mongo_url,
        subject_prefix=prefix,
        db_prefix=prefix,
        write_key="wk_bench",
        secret_key="sk_bench",
        identity_secret="is",
        token_secret="t",
        admin_password="x",
        log_level="WARNING",
    )
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()  # the bus, workspaces, Mongo and the consumers
    bus = Bus(nats_url, Subjects(prefix), "bench")
    await bus.connect()
    acks = Acks()
    await bus.subscribe(bus.subjects.live_visitor(WS, "*"), acks.on)
    assert bus.nc is not None
    await bus.nc.flush()
    solo = await single_visitor(bus, acks, 30)
    grouped_rate, grouped_lat, grouped_sent = await burst(bus, acks, "g", count, conversations)
    fresh_rate, fresh_lat, fresh_sent = await burst(bus, acks, "f", count, count)
    client = db.connect(mongo_url)
    database = client[settings.database_name("chat")]
    await check(database, {**grouped_sent, **fresh_sent})
    client.close()
    await bus.close()
    await runner.cleanup()

    def versus(value: float) -> str:
        return (
            f"{value:,.0f} msg/s  ({value / many_rate:.2f} x insert_many, "
            f"{value / single_rate:.2f} x single ops)"
        )

    report(
        "Chat inbound: visitor message -> stored -> live frame (one chat worker)",
        [
            ("baseline: sequential insert_one", f"{single_rate:,.0f} ops/s"),
            ("baseline: insert_one, 16 in flight", f"{parallel_rate:,.0f} ops/s"),
            ("baseline: insert_many(200)", f"{many_rate:,.0f} docs/s"),
            ("one visitor, one message at a time", summary_ms(solo)),
            (f"burst: {count} msgs over {conversations} conversations", versus(grouped_rate)),
            ("  publish -> frame", summary_ms(grouped_lat)),
            (f"burst: {count} first messages of new visitors", versus(fresh_rate)),
            ("  publish -> frame", summary_ms(fresh_lat)),
            ("checked", "every message stored once, seqs in send order per conversation"),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--conversations", type=int, default=200)
    args = parser.parse_args()
    with servers() as s:
        asyncio.run(run(s.nats.url, s.mongo.url, s.data_dir, args.messages, args.conversations))


if __name__ == "__main__":
    main()

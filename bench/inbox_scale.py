"""The agents' inbox at 100,000 conversations: first page and filtered pages over NATS.

Seeds N conversations (insert_many in batches, with the service's indexes in
place) into a real chat service started in-process, then times, in the same run:
  - baseline A: a NATS request/reply echo (the transport alone),
  - baseline B: the same index range reads the list request runs (database alone),
  - contrast: a plain `find().sort().limit()`, which SecantusDB sorts in memory,
  - conversations.list: first page (view all), a filtered page (mine + open),
    unassigned + open, and a deep page reached through cursors.

    python -m bench.inbox_scale [--conversations 100000] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
from typing import Any

from aiohttp import web

from bench.common import (
    BenchServers,
    Timer,
    bench_bus,
    bench_settings,
    rate,
    report,
    servers,
    summary_ms,
    timed,
)
from bench.seed import seed_conversations
from services.chat.app import create_app
from services.chat.store.inbox import recent_page
from shared.dialect import SECANTUS
from shared.web import DB
from shared.workspaces import DEFAULT_WORKSPACE_ID as WS

AGENTS = [f"agent-{n:02d}" for n in range(20)]
ME = "agent-07"


async def run(srv: BenchServers, conversations: int, requests: int) -> None:
    settings = bench_settings(srv)
    runner = web.AppRunner(create_app(settings))
    await runner.setup()  # runs the service's startup: bus, workspaces, indexes, handlers
    db = runner.app[DB]
    bus = await bench_bus(settings)
    try:
        rng = random.Random(5)
        with Timer() as seeding:
            await seed_conversations(db["conversations"], conversations, AGENTS, rng)
        subject = bus.subjects.request("chat", "conversations.list")

        async def listing(**filters: Any) -> dict[str, Any]:
            return await bus.request(subject, {"workspace_id": WS, "agent_id": ME, **filters})

        async def echo(payload: dict[str, Any]) -> dict[str, Any]:
            return payload

        await bus.serve(bus.subjects.request("bench", "echo"), echo)
        echo_subject = bus.subjects.request("bench", "echo")
        recent = [("last_activity_at", -1), ("_id", -1)]

        col = db["conversations"]
        mine_open = {"workspace_id": WS, "assignee_id": ME, "status": "open"}

        async def raw_first() -> None:
            await recent_page(col, {"workspace_id": WS}, 25, None, SECANTUS)

        async def raw_filtered() -> None:
            await recent_page(col, mine_open, 25, None, SECANTUS)

        async def naive_first() -> None:
            await col.find({"workspace_id": WS}).sort(recent).limit(26).to_list(None)

        deep_cursor = None
        for _ in range(40):  # page 41 of "all": 1,000 conversations down
            deep_cursor = (await listing(view="all", cursor=deep_cursor))["next_cursor"]

        # warm the caches the same way for every measured call
        for call in (raw_first, raw_filtered, lambda: listing(view="all")):
            await call()
        results = {
            "baseline A: NATS echo request": await timed(
                lambda: bus.request(echo_subject, {"workspace_id": WS}), requests
            ),
            "baseline B: raw Mongo reads, first page": await timed(raw_first, requests),
            "baseline B: raw Mongo reads, mine+open": await timed(raw_filtered, requests),
            "contrast: plain sort+limit find, first page": await timed(naive_first, 3),
            "list: first page (all)": await timed(lambda: listing(view="all"), requests),
            "list: filtered (mine + open)": await timed(
                lambda: listing(view="mine", status="open"), requests
            ),
            "list: filtered (unassigned + open)": await timed(
                lambda: listing(view="unassigned", status="open"), requests
            ),
            "list: page 41 via cursor (all)": await timed(
                lambda: listing(view="all", cursor=deep_cursor), requests
            ),
        }
        first = await listing(view="all")
        mine = await listing(view="mine", status="open")
        assert len(first["conversations"]) == 25 and first["next_cursor"]
        assert all(c["assignee_id"] == ME and c["status"] == "open" for c in mine["conversations"])
        rows = [
            (
                "conversations seeded",
                f"{conversations:,} in {seeding.seconds:.1f} s "
                f"({rate(conversations, seeding.seconds):,.0f}/s, indexes in place)",
            ),
        ]
        rows += [(name, summary_ms(samples)) for name, samples in results.items()]
        report(f"inbox at {conversations:,} conversations (25 per page)", rows)
    finally:
        await bus.close()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with servers() as s:
        asyncio.run(run(s, args.conversations, args.requests))


if __name__ == "__main__":
    main()

"""The inbox with its view counts at 100,000 conversations (issue 15), over HTTP.

Seeds chat's database with N conversations (bench/seed.py: mostly open, 80 % assigned
among 20 agents, a year of activity), a fifth of them carrying a label, then rebuilds
the counts once from the collection (`recount`, timed: what `python -m
services.chat.recount` costs at this size). An agent signs in through the form; then,
interleaved with a baseline, `--requests` requests each:

  - the counts: chat's `inbox.counts` (one read of the counters document), baseline
    counting the collection per request as a page would without them (12
    `count_documents`: all / unassigned / mine x 4 statuses);
  - the inbox page with its counts: `GET /inbox?view=all&status=open`, baseline
    chat's `conversations.list` (the rows alone);
  - the label filter: `GET /inbox?view=all&status=open&label=<id>`, baseline chat's
    `conversations.list` with `label_id`.

Target: p99 <= 100 ms for the pages. The suite runs 10,000 conversations; `--full`
seeds 100,000.

    python -m bench.inbox_counts [--full] [--requests 200] [--reps 3] [--counting-requests 20]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
from typing import Any

import aiohttp

from bench.common import (
    Record,
    Timer,
    bench_bus,
    bench_settings,
    finish,
    interleaved,
    progress,
    serve,
    servers,
)
from bench.dashboard_inbox import PASSWORD, Call, Case, asker, getter, sign_in
from bench.seed import seed_conversations
from services.chat.app import CHAT
from services.chat.app import create_app as chat_app
from services.chat.store.counts import STATUSES
from services.dashboard.app import create_app as dashboard_app
from services.identity.app import create_app as identity_app
from shared.web import DB
from shared.workspaces import DEFAULT_WORKSPACE_ID as WS

BENCH = "inbox_counts"
SUITE_SIZE = 10_000
FULL_SIZE = 100_000


def counting(db: Any, me: str) -> Call:
    """The counts as a page would get them without the counters document."""

    async def count() -> None:
        base = {"workspace_id": WS}
        for owner in ({}, {"assignee_id": None}, {"assignee_id": me}):
            for status in STATUSES:
                await db.conversations.count_documents({**base, **owner, "status": status})

    return count


async def run(args: argparse.Namespace) -> None:
    conversations = FULL_SIZE if args.full else args.conversations
    records: list[Record] = []
    extra: dict[str, Any] = {}
    with servers() as srv:
        email = "admin@bench.example"
        settings = bench_settings(
            srv, PARLEY_ADMIN_EMAIL=email, PARLEY_ADMIN_PASSWORD=PASSWORD, PARLEY_METRICS_PORT="0"
        )
        # identity answers the rows' people (none seeded: each row a "Visitor ..." stand-in)
        runners = [await serve(app(settings)) for app in (chat_app, identity_app, dashboard_app)]
        chat, _, dashboard = (r for r, _ in runners)
        base = f"http://127.0.0.1:{runners[2][1]}"
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        bus = await bench_bus(settings)
        try:
            admin = await dashboard.app[DB].agents.find_one({"email": email})
            assert admin, "the admin was not seeded"
            me = admin["_id"]
            agents = [me] + [f"agent-{n:02d}" for n in range(19)]
            db, store = chat.app[DB], chat.app[CHAT].store
            progress(BENCH, f"seeding {conversations:,} conversations")
            with Timer() as seeding:
                await seed_conversations(db.conversations, conversations, agents, random.Random(7))
            label = await store.add_label(WS, "Billing", "blue")
            ids = [d["_id"] async for d in db.conversations.find({}, {"_id": 1})]
            await db.conversations.update_many(
                {"_id": {"$in": ids[::5]}}, {"$set": {"labels": [label["_id"]]}}
            )
            with Timer() as rebuilding:
                await store.recount(WS)
            extra = {"seed_seconds": seeding.seconds, "recount_seconds": rebuilding.seconds}
            progress(
                BENCH, f"seeded in {seeding.seconds:.0f} s, recount {rebuilding.seconds:.2f} s"
            )
            await sign_in(http, base, email)
            listing = {"workspace_id": WS, "view": "all", "agent_id": me, "status": "open"}
            page = "/inbox?view=all&status=open"
            cases = [
                Case(
                    "view counts",
                    100,
                    lambda _: asker(
                        bus, "chat", "inbox.counts", {"workspace_id": WS, "agent_id": me}
                    ),
                    lambda _: counting(db, me),
                    [None],
                ),
                Case(
                    "inbox page with counts (all, open)",
                    100,
                    lambda _: getter(http, base, page, 'data-view-count="all"'),
                    lambda _: asker(bus, "chat", "conversations.list", listing),
                    [None],
                ),
                Case(
                    "inbox page by label",
                    100,
                    lambda _: getter(http, base, f"{page}&label={label['_id']}", "chip-blue"),
                    lambda _: asker(
                        bus, "chat", "conversations.list", {**listing, "label_id": label["_id"]}
                    ),
                    [None],
                ),
            ]
            size = f"{conversations // 1000}k conversations"
            for case in cases:
                counted = case.name == "view counts"
                # counting the collection takes seconds a request: fewer of them
                below_requests = args.counting_requests if counted else args.requests
                await case.timed(case.page, 5, [])
                await case.timed(case.below, 1 if counted else 5, [])
                values, baseline = await interleaved(
                    BENCH,
                    case.name,
                    functools.partial(case.timed, case.page, args.requests, case.p50[0]),
                    functools.partial(case.timed, case.below, below_requests, case.p50[1]),
                    args.reps,
                )
                below = (
                    "counting the collection per request" if counted else "the bus request below"
                )
                for figure, ours, theirs, target in (
                    ("p99", values, baseline, f"<= {case.target_ms:.0f} ms"),
                    ("p50", case.p50[0], case.p50[1], ""),
                ):
                    records.append(
                        Record(
                            BENCH,
                            f"{case.name} {figure}, {size}",
                            "ms",
                            ours,
                            below,
                            theirs,
                            target=target,
                            lower_is_better=True,
                        )
                    )
        finally:
            await http.close()
            await bus.close()
            for runner, _ in reversed(runners):
                await runner.cleanup()
    finish(BENCH, records, {**vars(args), "conversations": conversations, **extra})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=SUITE_SIZE)
    parser.add_argument("--full", action="store_true", help="the issue's size: 100k")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--counting-requests", type=int, default=20, help="of the baseline")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

"""Conversation search at scale (issue 15): `conversations.search` over the bus against
the inbox's own page read on the same collection, same run.

Seeds chat's database with N conversations and M messages (bench/seed.py's threads, each
conversation's messages naming one of 1,000 topics, so a topic word is in ~0.1 % of
them; a third of the people with a name and an `@example.com` address, a tenth of the
conversations labelled `billing`) with the search terms chat's write path keeps
(services/chat/search_terms.py, the same functions). Chat runs in-process. Then, per
query kind, R requests each for its p50 and p99, interleaved with the baseline: the
inbox's first page (`conversations.list`, view all, status open: an indexed equality
and range on the same collection, the same page size, the same bus).

Kinds: a rare word (a topic), a common word (every conversation), two words, a first
name (~3 %), an email domain (`example.com`, a third), a piece of one address, a label
alone, a word within a label, a word in the last 30 days, and the second page of the
common word (its cursor).

    python -m bench.search [--full] [--requests 100] [--reps 3]
    python -m bench.search --conversations 2000 --messages 20000 --requests 30 --reps 1
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import statistics
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bench.common import (
    Record,
    Timer,
    bench_bus,
    bench_settings,
    finish,
    interleaved,
    percentile,
    progress,
    serve,
    servers,
)
from bench.seed import (
    BATCH,
    FIRST_NAMES,
    LAST_NAMES,
    conversation_docs,
    message_docs,
    thread_lengths,
    threaded,
)
from services.chat import search_terms as st
from services.chat.app import create_app as chat_app
from shared import clock
from shared.bus import Bus
from shared.errors import BusError
from shared.web import DB
from shared.workspaces import DEFAULT_WORKSPACE_ID as WS

BENCH = "search"
SUITE_SIZE = (5_000, 50_000)
FULL_SIZE = (100_000, 1_000_000)
TOPICS = 1000

Call = Callable[[], Awaitable[Any]]


def searchable(
    conv: dict[str, Any], messages: list[dict[str, Any]], n: int, rng: random.Random
) -> None:
    """Give the seeded conversation a topic, maybe a person and a label, and the terms
    chat's fold and profile look-up would have left on it."""
    topic = f"topic{n % TOPICS}"
    for m in messages:
        if m["author"]["kind"] == "visitor":
            m["text"] = f"{m['text']} ({topic})"
    name = email = None
    if n % 3 == 0:
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        email = f"{name.replace(' ', '.')}{n}@example.com"
        conv["email"] = email
    words = st.message_words(m["text"] for m in messages)[: st.MAX_WORDS]
    person = st.person_terms(name=name, email=email, visitor=st.short_id(conv["visitor_id"]))
    conv.update(
        labels=["billing"] if n % 10 == 0 else [],
        search_words=words,
        search_person=person,
        search_terms=sorted(set(words) | set(person)),
    )


async def seed(db: Any, conversations: int, messages: int, rng: random.Random) -> None:
    lengths = thread_lengths(conversations, messages, 0.2, rng)
    step = max(1, BATCH // max(1, messages // max(1, conversations)))
    for start in range(0, conversations, step):
        convs = conversation_docs(min(step, conversations - start), start, ["agent-00"], rng)
        thread: list[dict[str, Any]] = []
        for n, conv in enumerate(convs, start):
            docs = message_docs(conv, lengths[n])
            searchable(conv, docs, n, rng)
            threaded(conv, docs)
            thread += docs
        await db["conversations"].insert_many(convs, ordered=False)
        for at in range(0, len(thread), BATCH):
            await db["messages"].insert_many(thread[at : at + BATCH], ordered=False)
        progress(BENCH, f"seeded {start + len(convs):,} conversations")


def asker(bus: Bus, verb: str, body: dict[str, Any]) -> Call:
    subject = bus.subjects.request("chat", verb)

    async def call() -> Any:
        return await bus.request(subject, {"workspace_id": WS, **body}, timeout=10)

    return call


async def timed(calls: list[Call], requests: int, p50: list[float]) -> float:
    """p99 in ms over `requests` calls (their p50 kept aside)."""
    samples = []
    for n in range(requests):
        with Timer() as t:
            await calls[n % len(calls)]()
        samples.append(t.seconds * 1000)
    p50.append(statistics.median(samples))
    return percentile(samples, 99)


async def kinds(bus: Bus) -> dict[str, list[Call]]:
    def q(**body: Any) -> Call:
        return asker(bus, "conversations.search", {"limit": 25, **body})

    since = clock.iso(clock.now() - timedelta(days=30))
    first = await q(q="invoice")()
    cursor = first["next_cursor"]
    return {
        "a rare word (a topic, ~0.1 %)": [q(q=f"topic{n}") for n in range(0, TOPICS, 97)],
        "a common word (every one)": [q(q="invoice")],
        "two words": [q(q=f"invoice topic{n}") for n in range(3, TOPICS, 101)],
        "a first name (~3 %)": [q(q=name) for name in FIRST_NAMES],
        "an email domain (a third)": [q(q="example.com")],
        "a piece of one address": [q(q=f"{n}@example") for n in range(3, 3000, 303)],
        "a label alone (10 %)": [q(label="billing")],
        "a word within a label": [q(q=f"topic{n}", label="billing") for n in range(0, TOPICS, 90)],
        "a word, last 30 days": [q(q="invoice", since=since)],
        "second page of a common word": [q(q="invoice", cursor=cursor)],
    }


async def run(args: argparse.Namespace) -> None:
    conversations, messages = FULL_SIZE if args.full else (args.conversations, args.messages)
    records: list[Record] = []
    failed: dict[str, str] = {}
    with servers() as srv:
        settings = bench_settings(srv, PARLEY_METRICS_PORT="0")
        runner, _ = await serve(chat_app(settings))
        bus = await bench_bus(settings)
        try:
            progress(BENCH, f"seeding {conversations:,} conversations, {messages:,} messages")
            with Timer() as seeding:
                await seed(runner.app[DB], conversations, messages, random.Random(15))
            progress(BENCH, f"seeded in {seeding.seconds:.0f} s")
            inbox = [
                asker(bus, "conversations.list", {"view": "all", "status": "open", "limit": 25})
            ]
            size = f"{conversations // 1000}k conversations"
            for name, calls in (await kinds(bus)).items():
                p50s: tuple[list[float], list[float]] = ([], [])
                try:
                    await timed(calls, 3, [])  # warm both the same way
                    await timed(inbox, 3, [])
                    ours, theirs = await interleaved(
                        BENCH,
                        name,
                        functools.partial(timed, calls, args.requests, p50s[0]),
                        functools.partial(timed, inbox, args.requests, p50s[1]),
                        args.reps,
                    )
                except BusError as exc:  # a query past its 10 s time-out
                    progress(BENCH, f"{name}: FAILED {exc!r}")
                    failed[name] = repr(exc)
                    continue
                for figure, mine, base, target in (
                    ("p99", ours, theirs, "<= 200 ms"),
                    ("p50", p50s[0], p50s[1], ""),
                ):
                    records.append(
                        Record(
                            BENCH,
                            f"{name} {figure}, {size}",
                            "ms",
                            mine,
                            "inbox first page, same bus",
                            base,
                            target=target,
                            lower_is_better=True,
                        )
                    )
        finally:
            await bus.close()
            await runner.cleanup()
    settings_out = {
        **vars(args),
        "conversations": conversations,
        "messages": messages,
        "seed_seconds": seeding.seconds,
        "failed": failed,
    }
    finish(BENCH, records, settings_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=SUITE_SIZE[0])
    parser.add_argument("--messages", type=int, default=SUITE_SIZE[1])
    parser.add_argument("--full", action="store_true", help="the issue's size: 100k / 1M")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--reps", type=int, default=3)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

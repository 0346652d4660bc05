"""The dashboard at scale (issue 12, item 5), through its real HTTP as a signed-in agent.

Seeds chat's database with N conversations and M messages (0.1 % of the conversations
long threads holding a fifth of the messages) and identity's with one person per
visitor (a third of them named contacts), insert_many into the services' indexed
collections with the documents they write (bench/seed.py). Chat, identity and the
dashboard run in-process; an agent signs in through the form. Then, 200 requests
each, interleaved with the request the page waits on over NATS (its baseline):

  - inbox first page: `GET /inbox?view=all&status=open`, baseline chat's
    `conversations.list`;
  - a filtered page: `GET /inbox?view=mine&status=open` (status + assignee);
  - opening a conversation: `GET /conversations/{id}` over the first 200 of the inbox
    (a typical thread), baseline chat's `conversation.get`; and a long thread
    (the last 100 of its messages shown);
  - the contacts page, newest seen first (`GET /contacts`), and contact search
    (`GET /contacts?q=...`) by a first name (broad: ~3 % of the people)
    and by an email prefix (one person), baseline identity's `profile.search`.

Target: p99 <= 100 ms for the inbox and a conversation, <= 200 ms for search. The
suite runs 10,000 conversations and 100,000 messages; `--full` seeds 100,000 and
1,000,000 (the issue's size; seeding takes minutes on SecantusDB).

    python -m bench.dashboard_inbox [--full] [--requests 200] [--reps 3]
    python -m bench.dashboard_inbox --conversations 2000 --messages 20000 --requests 50 --reps 1
    python -m bench.dashboard_inbox --cases "inbox,long thread"   # some cases only
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import re
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

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
from bench.seed import FIRST_NAMES, seed_chat, seed_people
from services.chat.app import create_app as chat_app
from services.dashboard.app import create_app as dashboard_app
from services.identity.app import create_app as identity_app
from shared.bus import Bus
from shared.errors import BusError
from shared.web import DB
from shared.workspaces import DEFAULT_WORKSPACE_ID as WS

BENCH = "dashboard_inbox"
PASSWORD = "bench password 1234"
SUITE_SIZE = (10_000, 100_000)
FULL_SIZE = (100_000, 1_000_000)

Call = Callable[[], Awaitable[Any]]


class Case:
    """One page and the bus request it waits on, each called in turn over a list of
    arguments (conversation ids, search terms)."""

    def __init__(
        self,
        name: str,
        target_ms: float,
        page: Callable[[Any], Call],
        below: Callable[[Any], Call],
        args: list[Any],
    ) -> None:
        self.name, self.target_ms = name, target_ms
        self.page, self.below, self.args = page, below, args
        self.p50: tuple[list[float], list[float]] = ([], [])

    async def timed(self, make: Callable[[Any], Call], requests: int, p50: list[float]) -> float:
        """p99 in ms over `requests` calls (their p50 kept aside)."""
        samples = []
        for n in range(requests):
            call = make(self.args[n % len(self.args)])
            with Timer() as t:
                await call()
            samples.append(t.seconds * 1000)
        p50.append(statistics.median(samples))
        return percentile(samples, 99)


async def sign_in(http: aiohttp.ClientSession, base: str, email: str) -> None:
    page = await (await http.get(f"{base}/")).text()
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the sign-in page has no CSRF field"
    data = {"email": email, "password": PASSWORD, "csrf": found.group(1)}
    async with http.post(f"{base}/login", data=data) as resp:
        assert resp.status == 200 and "/inbox" in str(resp.url), "the sign-in failed"


def getter(http: aiohttp.ClientSession, base: str, path: str, must_have: str = "") -> Call:
    async def get() -> None:
        async with http.get(base + path) as resp:
            body = await resp.text()
            assert resp.status == 200, (path, resp.status)
            assert "not answering" not in body, f"{path}: a backing service did not answer"
            assert must_have in body, f"{path}: no {must_have!r}"

    return get


def asker(bus: Bus, service: str, verb: str, body: dict[str, Any]) -> Call:
    subject = bus.subjects.request(service, verb)
    return lambda: bus.request(subject, body)


async def inbox_ids(bus: Bus, agent: str, count: int) -> list[str]:
    """The first `count` conversations of the inbox, as an agent opens them."""
    ids: list[str] = []
    cursor = None
    while len(ids) < count:
        body = {"workspace_id": WS, "view": "all", "agent_id": agent, "status": "open"}
        page = await asker(bus, "chat", "conversations.list", {**body, "cursor": cursor})()
        ids += [c["id"] for c in page["conversations"]]
        if not (cursor := page["next_cursor"]):
            break
    return ids[:count]


def cases(
    http: aiohttp.ClientSession,
    base: str,
    bus: Bus,
    me: str,
    opened: list[str],
    long_ids: list[str],
    emails: list[str],
) -> list[Case]:
    def inbox(view: str) -> tuple[Callable[[Any], Call], Callable[[Any], Call]]:
        body = {"workspace_id": WS, "view": view, "agent_id": me, "status": "open"}
        return (
            lambda _: getter(http, base, f"/inbox?view={view}&status=open", 'class="row'),
            lambda _: asker(bus, "chat", "conversations.list", body),
        )

    def conversation(cid: str) -> Call:
        return asker(
            bus,
            "chat",
            "conversation.get",
            {"workspace_id": WS, "conversation_id": cid, "agent_id": me, "limit": 100},
        )

    def search(q: str) -> Call:
        body = {"workspace_id": WS, "limit": 25, **({"q": q} if q else {})}
        return asker(bus, "identity", "profile.search", body)

    def contacts(q: str) -> Call:
        return getter(http, base, f"/contacts?q={q}" if q else "/contacts", "/contacts/")

    def opening(cid: str) -> Call:
        return getter(http, base, f"/conversations/{cid}", "reply")

    return [
        Case("inbox first page (all, open)", 100, *inbox("all"), [None]),
        Case("inbox filtered (mine, open)", 100, *inbox("mine"), [None]),
        Case("open a conversation", 100, opening, conversation, opened),
        Case("open a long thread", 100, opening, conversation, long_ids),
        Case("contacts page (no search)", 200, contacts, search, [""]),
        Case("contact search, a first name", 200, contacts, search, FIRST_NAMES),
        Case("contact search, an email prefix", 200, contacts, search, emails),
    ]


async def run(args: argparse.Namespace) -> None:
    conversations, messages = FULL_SIZE if args.full else (args.conversations, args.messages)
    records: list[Record] = []
    seeded: dict[str, float] = {}
    failed: dict[str, str] = {}
    with servers() as srv:
        email = "admin@bench.example"
        settings = bench_settings(
            srv, PARLEY_ADMIN_EMAIL=email, PARLEY_ADMIN_PASSWORD=PASSWORD, PARLEY_METRICS_PORT="0"
        )
        runners = [await serve(app(settings)) for app in (chat_app, identity_app, dashboard_app)]
        chat, identity, dashboard = (r for r, _ in runners)
        base = f"http://127.0.0.1:{runners[2][1]}"
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        bus = await bench_bus(settings)
        try:
            admin = await dashboard.app[DB].agents.find_one({"email": email})
            assert admin, "the admin was not seeded"
            me = admin["_id"]
            agents = [me] + [f"agent-{n:02d}" for n in range(19)]
            rng = random.Random(7)
            progress(BENCH, f"seeding {conversations:,} conversations, {messages:,} messages")
            with Timer() as chat_seed:
                long_ones = await seed_chat(chat.app[DB], conversations, messages, agents, rng)
            with Timer() as people_seed:
                await seed_people(identity.app[DB], conversations, rng)
            seeded = {"chat_seconds": chat_seed.seconds, "people_seconds": people_seed.seconds}
            progress(
                BENCH, f"seeded in {chat_seed.seconds:.0f} s + {people_seed.seconds:.0f} s (people)"
            )
            await sign_in(http, base, email)
            opened = await inbox_ids(bus, me, args.requests)
            emails = [
                p["email"][:12]
                for p in await identity.app[DB]
                .persons.find({"email": {"$ne": None}})
                .limit(50)
                .to_list(None)
            ]
            long_ids = [c["_id"] for c in long_ones[:20]]
            for case in cases(http, base, bus, me, opened, long_ids, emails):
                if args.cases and not any(part in case.name for part in args.cases.split(",")):
                    continue
                try:
                    await case.timed(case.page, 5, [])  # warm both the same way
                    await case.timed(case.below, 5, [])
                    values, baseline = await interleaved(
                        BENCH,
                        case.name,
                        functools.partial(case.timed, case.page, args.requests, case.p50[0]),
                        functools.partial(case.timed, case.below, args.requests, case.p50[1]),
                        args.reps,
                    )
                except (AssertionError, BusError) as exc:  # e.g. a page past its 3 s time-out
                    progress(BENCH, f"{case.name}: FAILED {exc!r}")
                    failed[case.name] = repr(exc)
                    continue
                size = f"{conversations // 1000}k conversations"
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
                            "the bus request below",
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
    settings_out = {
        **vars(args),
        "conversations": conversations,
        "messages": messages,
        **seeded,
        "failed": failed,
    }
    finish(BENCH, records, settings_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=SUITE_SIZE[0])
    parser.add_argument("--messages", type=int, default=SUITE_SIZE[1])
    parser.add_argument("--full", action="store_true", help="the issue's size: 100k / 1M")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cases", default="", help="only cases whose name has one of these")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

"""The dashboard's inbox page at 100,000 conversations, end to end over HTTP.

Seeds N conversations into a real chat service's database (insert_many, with chat's
indexes in place), starts chat, identity and the dashboard in-process, signs an
admin in, then times in the same run:
  - the limit below: chat's `conversations.list` request over NATS (first page,
    and the "mine + open" filter),
  - the page: `GET /inbox` (session check, chat's list, identity's summaries for
    the 25 rows, jinja2 rendering) for the same two views, plus a page reached
    through the cursor.

    python -m bench.dashboard_inbox [--conversations 100000] [--requests 100]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
from typing import Any

import aiohttp

from bench.common import (
    Timer,
    bench_bus,
    bench_settings,
    rate,
    report,
    serve,
    servers,
    summary_ms,
    timed,
)
from bench.seed import seed_conversations
from services.chat.app import create_app as chat_app
from services.dashboard.app import create_app as dashboard_app
from services.identity.app import create_app as identity_app
from shared.web import DB
from shared.workspaces import DEFAULT_WORKSPACE_ID as WS

PASSWORD = "bench password 1234"


async def run(count: int, requests: int) -> None:
    with servers() as srv:
        settings = bench_settings(
            srv, PARLEY_ADMIN_EMAIL="admin@bench.example", PARLEY_ADMIN_PASSWORD=PASSWORD
        )
        runners = []
        chat, _ = await serve(chat_app(settings))
        runners.append(chat)
        identity, _ = await serve(identity_app(settings))
        runners.append(identity)
        dashboard, port = await serve(dashboard_app(settings))
        runners.append(dashboard)
        base = f"http://127.0.0.1:{port}"
        try:
            http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            page = await (await http.get(f"{base}/")).text()
            found = re.search(r'name="csrf" value="([^"]+)"', page)
            assert found, "the sign-in page has no CSRF field"
            csrf = found.group(1)
            await http.post(
                f"{base}/login",
                data={"email": "admin@bench.example", "password": PASSWORD, "csrf": csrf},
            )
            admin = await dashboard.app[DB].agents.find_one({"email": "admin@bench.example"})
            assert admin, "the admin was not seeded"
            me = admin["_id"]
            agents = [me] + [f"agent-{n:02d}" for n in range(19)]

            rng = random.Random(7)
            with Timer() as seeding:
                await seed_conversations(chat.app[DB]["conversations"], count, agents, rng)

            bus = await bench_bus(settings)
            subject = bus.subjects.request("chat", "conversations.list")

            def chat_list(view: str) -> Any:
                body = {"workspace_id": WS, "view": view, "agent_id": me, "status": "open"}
                return lambda: bus.request(subject, body)

            def inbox(query: str) -> Any:
                async def get() -> None:
                    async with http.get(f"{base}/inbox?{query}") as response:
                        assert response.status == 200, response.status
                        await response.read()

                return get

            first = await (await http.get(f"{base}/inbox?view=all&status=open")).text()
            rows = len(re.findall(r'<li class="row', first))
            assert rows == 25, f"the first page has {rows} rows"
            assert "not answering" not in first, "a backing service did not answer"
            more = re.search(r"cursor=([^\"&]+)", first)
            assert more, "the first page links no next page"
            cursor = more.group(1)

            for warm in (chat_list("all"), inbox("view=all&status=open")):
                await timed(warm, 10)
            chat_all = await timed(chat_list("all"), requests)
            chat_mine = await timed(chat_list("mine"), requests)
            page_all = await timed(inbox("view=all&status=open"), requests)
            page_mine = await timed(inbox("view=mine&status=open"), requests)
            page_next = await timed(inbox(f"view=all&status=open&cursor={cursor}"), requests)
            await bus.close()
            await http.close()
        finally:
            for runner in reversed(runners):
                await runner.cleanup()

    def med(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    report(
        f"dashboard inbox at {count:,} conversations",
        [
            (
                "seeding",
                f"{count:,} in {seeding.seconds:.1f} s ({rate(count, seeding.seconds):,.0f}/s)",
            ),
            ("limit: chat list, all+open (NATS)", summary_ms(chat_all)),
            ("limit: chat list, mine+open (NATS)", summary_ms(chat_mine)),
            ("GET /inbox all+open", summary_ms(page_all)),
            ("GET /inbox mine+open", summary_ms(page_mine)),
            ("GET /inbox all+open, page 2 (cursor)", summary_ms(page_next)),
            ("page / chat request (all)", f"{med(page_all) / med(chat_all):.1f}x"),
            ("page / chat request (mine)", f"{med(page_mine) / med(chat_mine):.1f}x"),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(run(args.conversations, args.requests))


if __name__ == "__main__":
    main()

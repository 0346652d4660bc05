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
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from bench.common import Timer, rate, report, servers, summary_ms
from services.chat.store import new_conversation
from shared.bus import Bus
from shared.embedded import free_port
from shared.settings import Settings
from shared.subjects import Subjects
from shared.web import DB
from shared.workspaces import DEFAULT_WORKSPACE_ID as WS

STATUSES = ["open"] * 5 + ["resolved"] * 3 + ["pending", "snoozed"]
PASSWORD = "bench password 1234"


def seed_docs(count: int, start: int, agents: list[str], rng: random.Random) -> list[dict]:
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
        doc["last_activity_at"] = doc["updated_at"] = at
        docs.append(doc)
    return docs


async def start(name: str, settings: Settings) -> tuple[web.AppRunner, int]:
    module = __import__(f"services.{name}.app", fromlist=["create_app"])
    runner = web.AppRunner(module.create_app(settings), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def timed(call: Any, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def run(count: int, requests: int) -> None:
    with servers() as srv:
        prefix = "bench" + str(random.randrange(10**6))
        settings = Settings.from_env(
            {
                "PARLEY_DATA_DIR": str(srv.data_dir / "data"),
                "NATS_URL": srv.nats.url,
                "MONGO_URL": srv.mongo.url,
                "PARLEY_SUBJECT_PREFIX": prefix,
                "PARLEY_DB_PREFIX": prefix,
                "PARLEY_ADMIN_EMAIL": "admin@bench.example",
                "PARLEY_ADMIN_PASSWORD": PASSWORD,
                "PARLEY_LOG_LEVEL": "WARNING",
            }
        )
        runners = []
        chat, _ = await start("chat", settings)
        runners.append(chat)
        identity, _ = await start("identity", settings)
        runners.append(identity)
        dashboard, port = await start("dashboard", settings)
        runners.append(dashboard)
        base = f"http://127.0.0.1:{port}"
        try:
            http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            page = await (await http.get(f"{base}/")).text()
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            await http.post(
                f"{base}/login",
                data={"email": "admin@bench.example", "password": PASSWORD, "csrf": csrf},
            )
            admin = await dashboard.app[DB].agents.find_one({"email": "admin@bench.example"})
            me = admin["_id"]
            agents = [me] + [f"agent-{n:02d}" for n in range(19)]

            rng = random.Random(7)
            conversations = chat.app[DB]["conversations"]
            with Timer() as seeding:
                for start_at in range(0, count, 5000):
                    batch = seed_docs(min(5000, count - start_at), start_at, agents, rng)
                    await conversations.insert_many(batch, ordered=False)

            bus = Bus(settings.nats_url, Subjects(settings.subject_prefix), "bench")
            await bus.connect()
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
            cursor = re.search(r"cursor=([^\"&]+)", first).group(1)

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

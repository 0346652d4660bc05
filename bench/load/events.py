"""The event source: Segment batches to `/v1/batch` with the secret key, at a steady rate.

Ten batches a second, over a bounded set of people (so profiles stop being created
after a while and what grows is events, not people): 77 % tracks, 20 % pages, 3 %
identifies. A batch due while too many are in flight is dropped and counted, so the
achieved rate says honestly whether the gateway kept up.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bench.load.plan import LoadPlan, Stats, run_reporting

TICKS_PER_SECOND = 10
IN_FLIGHT = 16
PEOPLE = 5000
# a site's usual mix: identifies are rare (each costs about ten database operations)
IDENTIFY_SHARE, PAGE_SHARE = 0.03, 0.2
TRACKED = ("Viewed Product", "Added to Cart", "Checkout Started", "Searched")


def event() -> dict[str, Any]:
    person = random.randrange(PEOPLE)
    kind = random.random()
    message: dict[str, Any] = {
        "anonymousId": f"soak-anon-{person}",
        "messageId": uuid.uuid4().hex,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    if kind < IDENTIFY_SHARE:
        traits = {"email": f"person{person}@soak.example", "plan": "pro"}
        return message | {"type": "identify", "userId": f"soak-user-{person}", "traits": traits}
    if kind < IDENTIFY_SHARE + PAGE_SHARE:
        return message | {"type": "page", "name": "Pricing", "properties": {"path": "/pricing"}}
    properties = {"sku": f"sku-{person % 97}", "price": person % 50 + 0.99}
    return message | {"type": "track", "event": random.choice(TRACKED), "properties": properties}


async def post_batch(session: aiohttp.ClientSession, url: str, size: int, stats: Stats) -> None:
    started = time.monotonic()
    try:
        async with session.post(url, json={"batch": [event() for _ in range(size)]}) as resp:
            await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        stats.error(f"ingest {type(exc).__name__}")
        return
    if status == 200:
        stats.count("events stored", size)
        stats.latency("batch post", time.monotonic() - started)
    else:
        stats.error(f"ingest {status}")


async def _events(plan: LoadPlan, stats: Stats) -> None:
    url = f"{plan.gateway_url}/v1/batch"
    async with aiohttp.ClientSession(auth=aiohttp.BasicAuth(plan.secret_key, "")) as session:
        in_flight: set[asyncio.Task] = set()
        started, due_so_far = time.monotonic(), 0
        while plan.left() > 0:
            due = int((time.monotonic() - started) * plan.events_per_second) - due_so_far
            if due > 0:
                due_so_far += due
                if len(in_flight) >= IN_FLIGHT:
                    stats.count("events dropped (gateway behind)", due)
                else:
                    task = asyncio.create_task(post_batch(session, url, due, stats))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
            await asyncio.sleep(1 / TICKS_PER_SECOND)
        if in_flight:
            await asyncio.wait(in_flight, timeout=10)


def main(plan: LoadPlan, queue: Any) -> None:
    """A multiprocessing target: events at the plan's rate until its end."""
    stats = Stats("events")
    asyncio.run(run_reporting(stats, queue, _events(plan, stats)))

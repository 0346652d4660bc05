"""A database outage dead-letters nothing (issue 9.3).

Before: with the database down, every delivery of an event failed, was nak'ed and
counted, and after 8 the event went to the dead-letter stream as `retries_exhausted`.
Now the consumer waits for the database with the messages it holds and spends no
delivery. The retry limits are shrunk so the outage outlasts them many times over.
"""

from __future__ import annotations

import asyncio

import pytest

from services.identity.app import CONSUMER
from shared import consumer
from shared.bus import Bus
from shared.settings import Settings
from shared.web import BUS, DB
from shared.workspaces import DEFAULT_WORKSPACE_ID
from tests.integration.consumer_support import dead_letters, readyz, stopped
from tests.integration.identity_support import event, publish
from tests.support import eventually

OUTAGE = 20.0  # seconds: a few times 2 deliveries x (1 s time-outs + 0.2 s backoff) x 3 events
FAST_FAILING = "&serverSelectionTimeoutMS=1000&socketTimeoutMS=1000&connectTimeoutMS=1000"


async def test_events_posted_while_the_database_is_stopped_are_applied_once_after(
    servers, settings: Settings, start_service, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer, "NAK_BACKOFF", (0.2,))
    monkeypatch.setattr(consumer, "MAX_DELIVER", 2)
    identity = await start_service(
        "identity", settings=settings.with_changes(mongo_url=servers.mongo.url + FAST_FAILING)
    )
    events = [
        event(DEFAULT_WORKSPACE_ID, "identify", user_id=f"u-{n}", anonymous_id=f"a-{n}")
        for n in range(3)
    ]
    async with stopped(servers.mongo):
        await publish(bus, *events)
        await asyncio.sleep(OUTAGE)
        status, body = await readyz(identity)
        assert status == 503
        assert body["checks"]["consumers"] == "down"
        assert identity.app[BUS].consumer_problems() == {CONSUMER: "waiting for a server"}
    records = identity.app[DB].events

    async def all_applied() -> bool:
        return await records.count_documents({}) == len(events)

    await eventually(all_applied, timeout=30)
    for e in events:
        assert await records.count_documents({"message_id": e.message_id}) == 1
    assert await dead_letters(bus, CONSUMER) == 0
    assert bus.js is not None
    info = await bus.js.consumer_info(bus.subjects.events_stream, CONSUMER)
    assert info.num_redelivered == 0  # no delivery was spent on the outage
    await eventually(lambda: _ready(identity), timeout=15)


async def _ready(server) -> bool:
    return (await readyz(server))[0] == 200

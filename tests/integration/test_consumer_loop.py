"""The durable consumer loop survives its own failures and readiness tells when it cannot.

Issue 8.11: a handler's ValueError was taken for undecodable JSON and dead-lettered on
the first try. Issue 9.1: a NATS stall while identity dead-lettered killed its consumer
task silently; health stayed green and later events were never applied.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.identity.app import PROCESSOR
from shared import consumer
from shared.bus import Bus
from shared.tasks import stop
from shared.web import BUS
from shared.workspaces import DEFAULT_WORKSPACE_ID
from tests.integration.consumer_support import (
    consumed,
    dead_letters,
    publish_raw,
    readyz,
    stopped,
)
from tests.integration.identity_support import event, publish
from tests.support import eventually


async def test_a_handlers_value_error_is_retried_not_taken_for_bad_json(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer, "NAK_BACKOFF", (0.1,))
    calls = {"n": 0}

    async def handler(payload: dict) -> None:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ValueError("a bug in the handler, not in the message")

    await bus.publish_durable(bus.subjects.events("ws1", "track"), {"n": 1}, "v-1")
    bus.consume(bus.subjects.events_stream, "t-value", bus.subjects.events_all, handler)

    async def applied() -> bool:
        return calls["n"] == 3

    await eventually(applied, timeout=15)
    assert await dead_letters(bus, "t-value") == 0


async def test_a_failing_handler_is_dead_lettered_only_when_its_deliveries_are_spent(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer, "NAK_BACKOFF", (0.1,))
    monkeypatch.setattr(consumer, "MAX_DELIVER", 3)
    calls = {"n": 0}

    async def handler(payload: dict) -> None:
        calls["n"] += 1
        raise ValueError("always broken")

    dead: list[dict] = []

    async def on_dead(record: dict) -> None:
        dead.append(record)

    await bus.subscribe(bus.subjects.deadletter("t-spent"), on_dead)
    await bus.publish_durable(bus.subjects.events("ws1", "track"), {"n": 1}, "s-1")
    bus.consume(bus.subjects.events_stream, "t-spent", bus.subjects.events_all, handler)

    async def dead_lettered() -> bool:
        return len(dead) == 1

    await eventually(dead_lettered, timeout=15)
    assert calls["n"] == 3
    assert dead[0]["code"] == "retries_exhausted"
    assert dead[0]["attempts"] == 3
    assert "always broken" in dead[0]["reason"]


async def test_undecodable_json_is_dead_lettered_at_once(bus: Bus) -> None:
    calls: list[dict] = []

    async def handler(payload: dict) -> None:
        calls.append(payload)

    await publish_raw(bus, bus.subjects.events("ws1", "track"), [b"{nope", b"[1]"], "raw")
    bus.consume(bus.subjects.events_stream, "t-raw", bus.subjects.events_all, handler)

    async def both_dead() -> bool:
        return await dead_letters(bus, "t-raw") == 2

    await eventually(both_dead)
    assert calls == []


async def test_readiness_fails_while_a_consumer_holds_messages_without_progress(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer, "STALL_AFTER", 0.5)
    release = asyncio.Event()

    async def handler(payload: dict) -> None:
        await release.wait()

    bus.consume(bus.subjects.events_stream, "t-stall", bus.subjects.events_all, handler)
    assert await bus.consumers_healthy()
    await bus.publish_durable(bus.subjects.events("ws1", "track"), {"n": 1}, "st-1")

    async def unhealthy() -> bool:
        return not await bus.consumers_healthy()

    await eventually(unhealthy, timeout=10)
    assert bus.consumer_problems() == {"t-stall": "not progressing"}
    release.set()
    await eventually(bus.consumers_healthy, timeout=10)


async def test_readiness_fails_when_a_consumer_is_not_running(start_service) -> None:
    identity = await start_service("identity")

    async def ready() -> bool:
        return (await readyz(identity))[0] == 200

    await eventually(ready, timeout=15)
    tasks = [running.health.task for running in identity.app[BUS].consumers]
    await stop(*tasks)  # re-cancels: a cancel can be swallowed inside a NATS fetch
    status, body = await readyz(identity)
    assert status == 503
    assert body["checks"]["consumers"] == "down"


async def test_identity_keeps_consuming_after_nats_stalls_while_it_dead_letters(
    servers, start_service, bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    """The reproduction of 9.1: 4,000 undecodable events, NATS stopped for 8 s meanwhile."""
    subject = bus.subjects.events(DEFAULT_WORKSPACE_ID, "track")
    await publish_raw(bus, subject, [b"{not json %d" % i for i in range(4000)], "bad")
    before = consumed("identity", "identity", "dead_letter")
    identity = await start_service("identity")

    async def dead_lettering() -> bool:
        return consumed("identity", "identity", "dead_letter") - before >= 50

    await eventually(dead_lettering, timeout=30)
    with caplog.at_level(logging.WARNING, logger="parley.bus"):
        async with stopped(servers.nats):
            await asyncio.sleep(8)
        good = event(DEFAULT_WORKSPACE_ID, "identify", user_id="after-stall", anonymous_id="a-1")
        await publish(bus, good)
        processor = identity.app[PROCESSOR]

        async def applied() -> bool:
            return processor.applied >= 1

        await eventually(applied, timeout=60)
    assert any("waits for a server" in r.getMessage() for r in caplog.records)
    assert await dead_letters(bus, "identity") == 4000
    assert (await readyz(identity))[0] == 200

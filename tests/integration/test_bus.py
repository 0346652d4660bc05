"""The bus against a real nats-server: durability, de-duplication, retries, dead letters."""

from __future__ import annotations

import asyncio

import pytest

from services.gateway.events_out import BUS_FAILURES
from shared.bus import Bus, decode
from shared.errors import BusError, PermanentError
from tests.support import eventually


async def test_a_retried_publish_with_the_same_message_id_is_stored_once(bus: Bus) -> None:
    subject = bus.subjects.events("ws1", "track")
    assert await bus.publish_durable(subject, {"n": 1}, "m-1") is True
    assert await bus.publish_durable(subject, {"n": 1}, "m-1") is False
    info = await bus.js.stream_info(bus.subjects.events_stream)
    assert info.state.messages == 1


async def test_consumer_acks_success_and_retries_a_transient_failure(bus: Bus) -> None:
    seen: list[int] = []
    failures = {"left": 2}

    async def handler(payload: dict) -> None:
        if payload["n"] == 2 and failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("mongo hiccup")
        seen.append(payload["n"])

    for n in (1, 2, 3):
        await bus.publish_durable(bus.subjects.events("ws1", "track"), {"n": n}, f"m{n}")
    bus.consume(bus.subjects.events_stream, "t1", bus.subjects.events_all, handler)

    async def all_seen() -> bool:
        return sorted(seen) == [1, 2, 3]

    await eventually(all_seen, timeout=15)
    assert failures["left"] == 0


async def test_a_message_that_can_never_apply_goes_to_the_dead_letter_subject(bus: Bus) -> None:
    async def handler(payload: dict) -> None:
        raise PermanentError("userId 'undefined' is a placeholder", code="illegal_id")

    dead: list[dict] = []
    await bus.subscribe(bus.subjects.deadletter_all, lambda p: asyncio.sleep(0, dead.append(p)))
    await bus.publish_durable(bus.subjects.events("ws1", "identify"), {"userId": "undefined"}, "x")
    bus.consume(bus.subjects.events_stream, "t2", bus.subjects.events_all, handler)

    async def dead_lettered() -> bool:
        return len(dead) == 1

    await eventually(dead_lettered)
    assert dead[0]["code"] == "illegal_id"
    assert "placeholder" in dead[0]["reason"]
    assert '"undefined"' in dead[0]["data"]


async def test_request_reply_carries_results_and_errors(bus: Bus) -> None:
    async def double(payload: dict) -> int:
        if payload.get("n") is None:
            raise PermanentError("n is required", code="bad_request")
        return payload["n"] * 2

    subject = bus.subjects.request("test", "double")
    await bus.serve(subject, double)
    assert await bus.request(subject, {"n": 21}) == 42
    with pytest.raises(BusError) as err:
        await bus.request(subject, {})
    assert err.value.code == "bad_request"
    with pytest.raises(BusError) as err:
        await bus.request(bus.subjects.request("nobody", "home"), {}, timeout=1)
    assert err.value.code == "unavailable"


async def test_closing_the_bus_logs_no_reconnect_warning(settings, caplog) -> None:
    """A clean stop must not read like an outage in the logs support people watch."""
    from shared.subjects import Subjects

    client = Bus(settings.nats_url, Subjects(settings.subject_prefix), "test")
    await client.connect()
    with caplog.at_level("INFO", logger="parley.bus"):
        await client.close()
    messages = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "parley.bus"]
    assert ("INFO", "disconnected from nats (closing)") in messages
    assert not [m for m in messages if m[0] != "INFO"]


async def test_a_publish_window_stores_each_message_once_and_in_order(bus: Bus) -> None:
    subject = bus.subjects.events("ws1", "track")
    items = [(subject, {"n": n}, f"w-{n}") for n in range(300)]
    await bus.publish_durable_many(items)
    await bus.publish_durable_many(items[:50])  # a retried window: the ids dedupe it
    info = await bus.js.stream_info(bus.subjects.events_stream)
    assert info.state.messages == 300
    sub = await bus.js.pull_subscribe(subject, "order", stream=bus.subjects.events_stream)
    got = [decode(m.data)["n"] for m in await sub.fetch(300, timeout=5)]
    assert got == list(range(len(got))) and len(got) > 0
    assert bus.js.publish_async_pending() == 0


async def test_a_failed_publish_window_raises_and_leaves_no_ack_awaited(bus: Bus) -> None:
    nowhere = "nostream.anywhere.at.all"
    with pytest.raises(BUS_FAILURES):
        await bus.publish_durable_many([(nowhere, {"n": n}, f"x-{n}") for n in range(20)], 2)
    await asyncio.sleep(0)  # nats-py forgets a cancelled ack in its done callback
    assert bus.js.publish_async_pending() == 0

"""The bus against a real nats-server: durability, de-duplication, retries, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.gateway.events_out import BUS_FAILURES
from shared.bus import Bus, decode
from shared.errors import BusError, PermanentError
from shared.settings import Settings
from tests.support import eventually


async def test_a_retried_publish_with_the_same_message_id_is_stored_once(bus: Bus) -> None:
    subject = bus.subjects.events("ws1", "track")
    assert await bus.publish_durable(subject, {"n": 1}, "m-1") is True
    assert await bus.publish_durable(subject, {"n": 1}, "m-1") is False
    assert bus.js is not None
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

    async def keep(letter: dict) -> None:
        dead.append(letter)

    await bus.subscribe(bus.subjects.deadletter_all, keep)
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


async def test_requests_of_one_subject_are_answered_side_by_side(bus: Bus) -> None:
    """One slow request must not hold up the others of its kind (nats-py runs one
    subscription's callbacks one at a time): each answer here waits for all to be in."""
    arrived, everyone_in = 0, asyncio.Event()

    async def rendezvous(payload: dict) -> int:
        nonlocal arrived
        arrived += 1
        if arrived == 5:
            everyone_in.set()
        await asyncio.wait_for(everyone_in.wait(), 5)
        return payload["n"]

    subject = bus.subjects.request("test", "rendezvous")
    await bus.serve(subject, rendezvous)
    answers = await asyncio.gather(*(bus.request(subject, {"n": n}, timeout=8) for n in range(5)))
    assert answers == [0, 1, 2, 3, 4]


async def test_a_request_in_flight_is_answered_when_the_bus_closes(settings: Settings) -> None:
    from shared.subjects import Subjects

    server = Bus(settings.nats_url, Subjects(settings.subject_prefix), "test-server")
    caller = Bus(settings.nats_url, Subjects(settings.subject_prefix), "test-caller")
    await server.connect()
    await caller.connect()
    started = asyncio.Event()

    async def slow(payload: dict) -> str:
        started.set()
        await asyncio.sleep(0.5)
        return "done"

    subject = server.subjects.request("test", "slow")
    await server.serve(subject, slow)
    try:
        asking = asyncio.create_task(caller.request(subject, {}, timeout=5))
        await started.wait()
        await server.close()
        assert await asking == "done"
    finally:
        await caller.close()


async def test_a_stopping_bus_answers_what_is_in_flight_and_takes_no_more(
    settings: Settings,
) -> None:
    from shared.subjects import Subjects

    server = Bus(settings.nats_url, Subjects(settings.subject_prefix), "test-server")
    caller = Bus(settings.nats_url, Subjects(settings.subject_prefix), "test-caller")
    await server.connect()
    await caller.connect()
    started, heard = asyncio.Event(), list[object]()

    async def slow(payload: dict) -> str:
        started.set()
        await asyncio.sleep(0.5)
        return "done"

    async def hear(payload: dict) -> None:
        heard.append(payload)
        await asyncio.sleep(1.0)  # longer than the request: finished only if waited for
        heard.append("finished")

    asked, told = server.subjects.request("test", "slow"), server.subjects.request("test", "told")
    await server.serve(asked, slow)
    await server.subscribe(told, hear)
    assert server.nc is not None
    await server.nc.flush()  # the subscriptions are in before anything is sent
    try:
        asking = asyncio.create_task(caller.request(asked, {}, timeout=5))
        await caller.publish(told, {"n": 0})
        await started.wait()

        async def hearing() -> bool:
            return bool(heard)

        await eventually(hearing)
        await server.stop_taking_work()
        assert not server.taking_work
        assert heard == [{"n": 0}, "finished"]  # the live handler running then, finished
        assert await asking == "done"
        with pytest.raises(BusError) as err:
            await caller.request(asked, {}, timeout=2)
        assert err.value.code == "unavailable"  # no responder left: not a 2 s timeout
        await caller.publish(told, {"n": 1})
        assert caller.nc is not None
        await caller.nc.flush()
        await asyncio.sleep(0.3)  # long enough for a delivery on loopback
        assert heard == [{"n": 0}, "finished"]
    finally:
        await server.close()
        await caller.close()


async def test_a_service_stops_taking_work_before_its_database_closes(settings: Settings) -> None:
    """The stop order: bus intake first (on_shutdown), cleanup contexts (Mongo) after."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from shared.web import BUS, create_base_app

    app = create_base_app("test", settings)
    seen: list[bool] = []

    async def database_ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        seen.append(app[BUS].taking_work)  # what a closing database would face

    app.cleanup_ctx.append(database_ctx)
    server = TestServer(app)
    await server.start_server()
    assert app[BUS].taking_work
    await server.close()
    assert seen == [False]


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
    assert bus.js is not None
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
    assert bus.js is not None
    assert bus.js.publish_async_pending() == 0

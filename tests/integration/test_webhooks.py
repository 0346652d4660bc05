"""Webhooks end to end: chat's facts from JetStream become signed deliveries to a real
HTTP receiver, retried with the same webhook-id, given up on after the (compressed)
window, and never sent where the SSRF guard says no (real nats-server, SecantusDB)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from services.webhooks.app import create_app
from shared.bus import Bus
from shared.errors import BusError
from shared.settings import Settings, WebhookSettings
from tests.conftest import StartService
from tests.integration.chat_support import ask, conversation_of, visitor_says
from tests.integration.identity_support import Stack
from tests.integration.webhooks_support import Receiver, hooks, verify
from tests.support import eventually

FAST = WebhookSettings(
    retry_window_s=60, base_delay_s=0.2, in_flight=2, timeout_s=2, allow_private=True
)


def with_hooks(settings: Settings, **changes: Any) -> Settings:
    fields = {**FAST.__dict__, **changes}
    return settings.with_changes(webhooks=WebhookSettings(**fields))


async def start_hooks(aiohttp_server: Any, settings: Settings) -> TestServer:
    server: TestServer = await aiohttp_server(create_app(settings, tick=0.05))
    return server


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def _endpoint(bus: Bus, url: str, topics: list[str]) -> dict[str, Any]:
    created: dict[str, Any] = await hooks(bus, "endpoints.create", url=url, topics=topics)
    return created


async def test_signed_deliveries_are_retried_with_the_same_id(
    aiohttp_server: Any,
    start_service: StartService,
    settings: Settings,
    bus: Bus,
    receiver: Receiver,
) -> None:
    await start_hooks(aiohttp_server, with_hooks(settings))
    await start_service("chat")
    receiver.fail_first = 2
    wanted = await _endpoint(bus, receiver.url, ["message.created", "conversation.created"])
    other = await Receiver().start()  # subscribed to a topic nothing here emits
    try:
        await _endpoint(bus, other.url, ["conversation.assigned"])
        visitor = "v-" + uuid.uuid4().hex[:10]
        await visitor_says(bus, visitor, "Hello, is anyone there?")
        conversation = await conversation_of(bus, visitor)

        messages = await receiver.wait_for("message.created", 3)
        created = await receiver.wait_for("conversation.created", 3)
        for attempts in (messages, created):
            assert len({r.id for r in attempts}) == 1  # one webhook-id across the retries
            assert len({r.body for r in attempts}) == 1  # the same bytes each time
            assert all(verify(wanted["secret"], r.headers, r.body) for r in attempts)
            assert not verify("whsec_" + "A" * 44, attempts[0].headers, attempts[0].body)
        event = messages[0].event
        assert set(event) == {"id", "type", "created_at", "workspace_id", "data"}
        assert event["id"] == messages[0].id and event["workspace_id"] == "default"
        assert event["data"]["message"]["text"] == "Hello, is anyone there?"
        assert event["data"]["sender"] == "visitor"
        assert event["data"]["conversation"]["id"] == conversation["conversation_id"]
        assert created[0].event["data"]["conversation"]["id"] == conversation["conversation_id"]

        log: dict[str, Any] = {}

        async def logged() -> bool:  # the receiver answered before the worker wrote it down
            log.update(await hooks(bus, "endpoints.log", id=wanted["id"]))
            return len(log["attempts"]) == 6

        await eventually(logged)
        outcomes = [a["outcome"] for a in log["attempts"] if a["type"] == "message.created"]
        assert outcomes == ["delivered", "retry", "retry"]  # newest first
        assert [a["status"] for a in log["attempts"]][-1] == 503
        assert all(len(a["excerpt"] or "") <= 500 for a in log["attempts"])
        assert other.got == []  # its topic was never emitted
    finally:
        await other.stop()


async def test_status_and_assignment_changes_are_events(
    aiohttp_server: Any,
    start_service: StartService,
    settings: Settings,
    bus: Bus,
    receiver: Receiver,
) -> None:
    await start_hooks(aiohttp_server, with_hooks(settings))
    await start_service("chat")
    await _endpoint(bus, receiver.url, ["conversation.status_changed", "conversation.assigned"])
    visitor = "v-" + uuid.uuid4().hex[:10]
    await visitor_says(bus, visitor, "hi")
    cid = (await conversation_of(bus, visitor))["conversation_id"]
    await ask(bus, "conversation.update", conversation_id=cid, agent_id="a1", assignee_id="a1")
    await ask(bus, "conversation.update", conversation_id=cid, agent_id="a1", status="resolved")
    assigned = (await receiver.wait_for("conversation.assigned"))[0].event["data"]
    assert assigned["assignee_id"] == "a1" and assigned["previous_assignee_id"] is None
    status = (await receiver.wait_for("conversation.status_changed"))[0].event["data"]
    assert (status["status"], status["previous_status"]) == ("resolved", "open")
    assert receiver.of_type("message.created") == []


async def test_a_visitors_rating_is_a_conversation_rated_event(
    aiohttp_server: Any,
    start_service: StartService,
    settings: Settings,
    bus: Bus,
    receiver: Receiver,
) -> None:
    await start_hooks(aiohttp_server, with_hooks(settings))
    await start_service("chat")
    await _endpoint(bus, receiver.url, ["conversation.rated"])
    visitor = "v-" + uuid.uuid4().hex[:10]
    await visitor_says(bus, visitor, "hi")
    cid = (await conversation_of(bus, visitor))["conversation_id"]
    await ask(bus, "conversation.update", conversation_id=cid, agent_id="a1", status="resolved")
    rate = {"conversation_id": cid, "visitor_id": visitor, "score": 2, "comment": "slow"}
    await ask(bus, "conversation.rate", **rate)
    (delivery,) = await receiver.wait_for("conversation.rated")
    data = delivery.event["data"]
    assert data["conversation"]["id"] == cid
    assert (data["rating"]["score"], data["rating"]["comment"]) == (2, "slow")
    assert data["rating"]["at"].endswith("Z")
    assert receiver.of_type("conversation.status_changed") == []  # not subscribed


async def test_a_client_error_is_final_and_redeliver_sends_it_again(
    aiohttp_server: Any, settings: Settings, bus: Bus, receiver: Receiver
) -> None:
    await start_hooks(aiohttp_server, with_hooks(settings))
    receiver.fail_first, receiver.fail_status = 1, 400
    endpoint = await _endpoint(bus, receiver.url, ["person.promoted"])
    fact = {"workspace_id": "default", "profile_id": "p1", "stage": "contact", "at": "x"}
    await bus.publish_durable(bus.subjects.identity_fact("promoted"), fact, "t:p1")
    first = await receiver.wait_for("person.promoted")
    assert first[0].event["data"] == {"profile_id": "p1", "stage": "contact"}

    async def settled() -> list[dict[str, Any]]:
        return (await hooks(bus, "endpoints.log", id=endpoint["id"]))["deliveries"]

    async def failed() -> bool:
        return [d["status"] for d in await settled()] == ["failed"]

    await eventually(failed)
    assert len(receiver.got) == 1  # a 400 is not retried
    delivery = (await settled())[0]
    await hooks(bus, "endpoints.redeliver", id=endpoint["id"], delivery_id=delivery["id"])
    again = await receiver.wait_for("person.promoted", 2)
    assert again[1].id == again[0].id

    async def delivered() -> bool:
        return [d["status"] for d in await settled()] == ["delivered"]

    await eventually(delivered)


async def test_an_endpoint_failing_the_whole_window_is_disabled_and_admins_emailed(
    aiohttp_server: Any,
    start_service: StartService,
    settings: Settings,
    bus: Bus,
    receiver: Receiver,
) -> None:
    await start_hooks(aiohttp_server, with_hooks(settings, retry_window_s=2.0))
    await start_service("dashboard")  # who the admins are
    await start_service("mail")  # the catcher keeps the email (no relay configured)
    receiver.fail_first = -1
    endpoint = await _endpoint(bus, receiver.url, ["person.merged"])
    fact = {"workspace_id": "default", "survivor_id": "p1", "merged_id": "p2", "at": "x"}
    await bus.publish_durable(bus.subjects.identity_fact("merged"), fact, "t:merge")

    async def disabled() -> bool:
        found = await hooks(bus, "endpoints.get", id=endpoint["id"])
        return found["enabled"] is False

    await eventually(disabled, timeout=20)
    found = await hooks(bus, "endpoints.get", id=endpoint["id"])
    assert "failed for 2 seconds" in found["disabled_reason"]
    assert len(receiver.got) >= 3 and len({r.id for r in receiver.got}) == 1
    count = len(receiver.got)

    async def emailed() -> bool:
        caught = await bus.request(bus.subjects.request("mail", "caught.list"), {})
        return any("webhook" in e["subject"] for e in caught["emails"])

    await eventually(emailed)
    witness = await Receiver().start()  # an enabled endpoint: when it has the fact, so had we
    try:
        await _endpoint(bus, witness.url, ["person.merged"])
        later = {**fact, "merged_id": "p3"}
        await bus.publish_durable(bus.subjects.identity_fact("merged"), later, "t:2")
        await witness.wait_for("person.merged")
    finally:
        await witness.stop()
    assert len(receiver.got) == count  # nothing goes to a disabled endpoint

    await hooks(bus, "endpoints.update", id=endpoint["id"], enabled=True)
    again = await hooks(bus, "endpoints.get", id=endpoint["id"])
    assert again["enabled"] and again["disabled_reason"] is None


async def test_private_addresses_are_refused_unless_allowed(
    aiohttp_server: Any, settings: Settings, bus: Bus, receiver: Receiver
) -> None:
    await start_hooks(aiohttp_server, with_hooks(settings, allow_private=False))
    literal = await _endpoint(bus, receiver.url, ["person.promoted"])
    named = await _endpoint(
        bus, receiver.url.replace("127.0.0.1", "localhost"), ["person.promoted"]
    )
    fact = {"workspace_id": "default", "profile_id": "p9", "stage": "member", "at": "x"}
    await bus.publish_durable(bus.subjects.identity_fact("promoted"), fact, "t:p9")

    for endpoint in (literal, named):

        async def refused(endpoint: dict[str, Any] = endpoint) -> bool:
            log = await hooks(bus, "endpoints.log", id=endpoint["id"])
            return bool(log["attempts"]) and log["deliveries"][0]["status"] == "failed"

        await eventually(refused)
        attempt = (await hooks(bus, "endpoints.log", id=endpoint["id"]))["attempts"][0]
        assert attempt["error"].startswith("refused:") and attempt["status"] is None
    assert receiver.got == []


async def test_rotation_signs_with_both_secrets(
    aiohttp_server: Any, settings: Settings, bus: Bus, receiver: Receiver
) -> None:
    await start_hooks(aiohttp_server, with_hooks(settings))
    endpoint = await _endpoint(bus, receiver.url, ["person.promoted"])
    rotated = await hooks(bus, "endpoints.rotate", id=endpoint["id"])
    assert rotated["secret"] != endpoint["secret"] and rotated["secret"].startswith("whsec_")
    fact = {"workspace_id": "default", "profile_id": "p5", "stage": "member", "at": "x"}
    await bus.publish_durable(bus.subjects.identity_fact("promoted"), fact, "t:p5")
    got = (await receiver.wait_for("person.promoted"))[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert verify(endpoint["secret"], got.headers, got.body)
    assert verify(rotated["secret"], got.headers, got.body)


async def test_endpoint_requests_check_what_they_are_given(
    aiohttp_server: Any, settings: Settings, bus: Bus
) -> None:
    await start_hooks(aiohttp_server, with_hooks(settings))
    for bad in (
        {"url": "ftp://example.com/x", "topics": ["message.created"]},
        {"url": "https://example.com/" + "a" * 2000, "topics": ["message.created"]},
        {"url": "https://user:pw@example.com/", "topics": ["message.created"]},
        {"url": "https://example.com/", "topics": ["person.erased"]},  # no such topic
        {"url": "https://example.com/", "topics": []},
    ):
        with pytest.raises(BusError) as caught:
            await hooks(bus, "endpoints.create", **bad)
        assert caught.value.code == "invalid"
    made = await _endpoint(bus, "https://example.com/hook", ["message.created"])
    listed = await hooks(bus, "endpoints.list")
    assert [w["id"] for w in listed["webhooks"]] == [made["id"]]
    assert listed["webhooks"][0]["secret"] is None  # only when created or rotated
    with pytest.raises(BusError) as caught:
        await hooks(bus, "endpoints.get", id=made["id"], workspace_id="another")
    assert caught.value.code == "not_found"
    assert (await hooks(bus, "endpoints.delete", id=made["id"]))["deleted"] is True
    assert (await hooks(bus, "endpoints.list"))["webhooks"] == []


async def test_time_outs_and_429_are_retried(
    aiohttp_server: Any, settings: Settings, bus: Bus
) -> None:
    await start_hooks(aiohttp_server, with_hooks(settings, timeout_s=0.5))
    slow = await Receiver(fail_first=1, slow_failing_s=2.0).start()  # the first try times out
    limited = await Receiver(fail_first=1, fail_status=429).start()
    try:
        await _endpoint(bus, slow.url, ["person.promoted"])
        await _endpoint(bus, limited.url, ["person.merged"])
        fact = {"workspace_id": "default", "profile_id": "p1", "stage": "member"}
        await bus.publish_durable(bus.subjects.identity_fact("promoted"), fact, "t:s")
        merge = {"workspace_id": "default", "survivor_id": "p1", "merged_id": "p2", "at": "x"}
        await bus.publish_durable(bus.subjects.identity_fact("merged"), merge, "t:m")
        for receiver, kind in ((limited, "person.merged"), (slow, "person.promoted")):
            twice = await receiver.wait_for(kind, 2)
            assert twice[0].id == twice[1].id
    finally:
        await slow.stop()
        await limited.stop()


async def test_at_most_in_flight_deliveries_per_endpoint(
    aiohttp_server: Any, settings: Settings, bus: Bus
) -> None:
    await start_hooks(aiohttp_server, with_hooks(settings, in_flight=2))
    slow = await Receiver(slow_s=0.3).start()
    try:
        endpoint = await _endpoint(bus, slow.url, ["person.promoted"])
        for n in range(6):
            fact = {"workspace_id": "default", "profile_id": f"p{n}", "stage": "member"}
            await bus.publish_durable(bus.subjects.identity_fact("promoted"), fact, f"t:s{n}")
        await slow.wait_for("person.promoted", 6)
        assert slow.most_active == 2  # PARLEY_WEBHOOKS_IN_FLIGHT, and used
        log = await hooks(bus, "endpoints.log", id=endpoint["id"])
        assert all(a["latency_ms"] >= 300 for a in log["attempts"])
    finally:
        await slow.stop()


async def test_identity_promotions_and_merges_reach_the_endpoint(
    aiohttp_server: Any,
    start_service: StartService,
    settings: Settings,
    bus: Bus,
    receiver: Receiver,
) -> None:
    """From the real ingest API through identity's facts: an anonymous visitor who
    identifies is promoted to member, and their two profiles merge."""
    await start_hooks(aiohttp_server, with_hooks(settings))
    gateway = await start_service("gateway")
    await start_service("identity")
    await _endpoint(bus, receiver.url, ["person.promoted", "person.merged"])
    stack = Stack(gateway, settings)
    anon, user = "a-" + uuid.uuid4().hex[:8], "u-" + uuid.uuid4().hex[:8]
    status, _, _ = await stack.post(
        "/v1/track", {"anonymousId": anon, "event": "Opened"}, key=settings.secret_key
    )
    assert status == 200
    await stack.wait_profile(lambda p: True, distinct_id=anon)
    await stack.post(
        "/v1/identify",
        {"userId": user, "traits": {"email": "m@example.com"}},
        key=settings.secret_key,
    )
    await stack.post("/v1/alias", {"userId": user, "previousId": anon}, key=settings.secret_key)
    promoted = await receiver.wait_for("person.promoted")
    assert promoted[0].event["data"]["stage"] == "member"
    merged = (await receiver.wait_for("person.merged"))[0].event["data"]
    profile = await stack.wait_profile(lambda p: len(p["distinct_ids"]) == 2, user_id=user)
    assert merged["survivor_id"] == profile["id"]

"""Why two profiles became one (issue 14): every merge and every refused link keeps its
cause (the event, the rule, both sides before), the profiles API returns them and the
dashboard's profile page shows them as a timeline. Real nats-server, SecantusDB, identity,
gateway and dashboard."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from services.identity.app import create_app as identity_app
from shared import clock
from shared.bus import Bus
from shared.settings import Settings
from shared.web import DB
from tests.integration.dashboard_support import signed_in_client
from tests.integration.identity_support import Stack, drained, event, publish
from tests.support import eventually

WS = "default"


@pytest.fixture
async def stack(start_service, settings) -> Stack:
    identity = await start_service("identity")
    gateway = await start_service("gateway")
    return Stack(gateway, settings, [identity])


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def settle(bus: Bus, *events: Any) -> None:
    await publish(bus, *events)
    await drained(bus)


async def merges_of(stack: Stack, profile_id: str) -> dict[str, Any]:
    status, body = await stack.api(f"/v1/profiles/{profile_id}/merges")
    assert status == 200, body
    return body


async def two_devices_one_user(bus: Bus) -> tuple[str, str, str, Any]:
    """Two browsers seen apart, then identified as one user: the second identify merges."""
    a1, a2, user = uid("a"), uid("a"), uid("u")
    await settle(
        bus,
        event(WS, "page", anonymous_id=a1, source="widget", trusted=False),
        event(WS, "page", anonymous_id=a2, source="widget", trusted=False),
    )
    await settle(bus, event(WS, "identify", user_id=user, anonymous_id=a1, traits={"plan": "pro"}))
    second = event(WS, "identify", user_id=user, anonymous_id=a2)
    await settle(bus, second)
    return a1, a2, user, second


async def test_an_identify_merge_names_its_event_rule_and_both_sides(stack: Stack, bus: Bus):
    a1, a2, user, second = await two_devices_one_user(bus)
    profile = await stack.profile_by(user_id=user)
    assert profile is not None and sorted(profile["distinct_ids"]) == sorted([a1, a2, user])
    history = await merges_of(stack, profile["id"])
    assert history["profile_id"] == profile["id"]
    [merge] = history["merges"]
    assert merge["rule"] == "identify" and merge["survivor_id"] == profile["id"]
    assert merge["merged_id"] in profile["merged_from"]
    cause = merge["cause"]
    assert cause == {
        "rule": "identify",
        "message_id": second.message_id,
        "type": "identify",
        "source": "api",
        "trusted": True,
        "user_id": user,
        "anonymous_id": a2,
        "email": None,
    }
    # before the merge: a2's browser was an anonymous visitor, a1's already the member
    # (the older of the two survives, whichever that is)
    assert merge["merged"]["id"] == merge["merged_id"]
    assert merge["survivor"]["id"] == merge["survivor_id"]
    sides = sorted([merge["merged"], merge["survivor"]], key=lambda s: s["stage"], reverse=True)
    assert [(s["stage"], s["user_id"], s["emails"]) for s in sides] == [
        ("visitor", None, []),
        ("member", user, []),
    ]
    # the merged-away id answers with its survivor's history
    assert (await merges_of(stack, merge["merged_id"]))["merges"] == [merge]


async def test_an_email_merge_and_a_chain_of_merges(stack: Stack, bus: Bus) -> None:
    b1, b2, b3 = uid("b"), uid("b"), uid("b")
    email = f"{uid('lead')}@example.org"
    await settle(
        bus,
        event(WS, "page", anonymous_id=b1, source="widget", trusted=False),
        event(WS, "page", anonymous_id=b2, source="widget", trusted=False),
        event(WS, "page", anonymous_id=b3, source="widget", trusted=False),
    )
    await settle(
        bus, event(WS, "email", anonymous_id=b1, email=email, source="chat", trusted=False)
    )
    given = event(WS, "email", anonymous_id=b2, email=email, source="chat", trusted=False)
    await settle(bus, given)
    third = event(WS, "email", anonymous_id=b3, email=email, source="widget", trusted=False)
    await settle(bus, third)
    profile = await stack.profile_by(distinct_id=b3)
    assert profile is not None and len(profile["merged_from"]) == 2
    merges = (await merges_of(stack, profile["id"]))["merges"]
    assert [m["rule"] for m in merges] == ["email", "email"]
    by_message = {m["cause"]["message_id"]: m for m in merges}
    assert set(by_message) == {given.message_id, third.message_id}
    first = by_message[given.message_id]["cause"]
    assert first["type"] == "email" and first["source"] == "chat" and not first["trusted"]
    assert first["email"] == email and first["anonymous_id"] == b2 and first["user_id"] is None
    assert by_message[third.message_id]["cause"]["source"] == "widget"
    # both sides held the email just before (the newcomer had just been given it)
    for merge in merges:
        assert merge["merged"]["stage"] == merge["survivor"]["stage"] == "contact"
        assert email in merge["merged"]["emails"] + merge["survivor"]["emails"]


async def test_an_alias_merge_is_named_alias(stack: Stack, bus: Bus) -> None:
    old, user = uid("legacy"), uid("u")
    await settle(
        bus,
        event(WS, "page", anonymous_id=old, source="widget", trusted=False),
        event(WS, "identify", user_id=user, traits={"name": "Al"}),
    )
    alias = event(WS, "alias", user_id=user, previous_id=old)
    await settle(bus, alias)
    profile = await stack.profile_by(user_id=user)
    assert profile is not None and old in profile["distinct_ids"]
    [merge] = (await merges_of(stack, profile["id"]))["merges"]
    assert merge["rule"] == "alias" and merge["cause"]["type"] == "alias"
    assert merge["cause"]["anonymous_id"] == old and merge["cause"]["user_id"] == user


async def test_a_refused_link_keeps_its_cause_and_both_sides(stack: Stack, bus: Bus) -> None:
    c1, c2, u1, u2 = uid("c"), uid("c"), uid("u"), uid("u")
    await settle(
        bus,
        event(WS, "identify", user_id=u1, anonymous_id=c1, traits={"email": "one@x.io"}),
        event(WS, "identify", user_id=u2, anonymous_id=c2),
    )
    crossing = event(WS, "identify", user_id=u1, anonymous_id=c2)
    await settle(bus, crossing)
    one, two = await stack.profile_by(user_id=u1), await stack.profile_by(user_id=u2)
    assert one and two and one["id"] != two["id"]
    history = await merges_of(stack, one["id"])
    assert history["merges"] == []
    [refusal] = history["refusals"]
    assert refusal["kind"] == "different_user_ids"
    assert sorted(refusal["persons"]) == sorted([one["id"], two["id"]])
    assert refusal["cause"]["message_id"] == crossing.message_id
    assert refusal["cause"]["rule"] == "different_user_ids"
    assert refusal["cause"]["user_id"] == u1 and refusal["cause"]["anonymous_id"] == c2
    sides = {s["id"]: s for s in refusal["sides"]}
    assert sides[one["id"]]["user_id"] == u1 and sides[one["id"]]["emails"] == ["one@x.io"]
    assert sides[two["id"]]["user_id"] == u2
    assert (await merges_of(stack, two["id"]))["refusals"] == [refusal]


async def test_an_account_switch_is_kept_with_its_cause(stack: Stack, bus: Bus) -> None:
    shared, u1, u2 = uid("shared"), uid("u"), uid("u")
    await settle(bus, event(WS, "identify", user_id=u1, anonymous_id=shared))
    switch = event(WS, "identify", user_id=u2, anonymous_id=shared)
    await settle(bus, switch)
    first = await stack.profile_by(user_id=u1)
    assert first is not None
    [refusal] = (await merges_of(stack, first["id"]))["refusals"]
    assert refusal["kind"] == "account_switch"
    assert refusal["cause"]["message_id"] == switch.message_id
    assert [s["user_id"] for s in refusal["sides"]] == [u1, u2]


async def test_unknown_profile_and_secret_key(stack: Stack) -> None:
    assert (await stack.api("/v1/profiles/nobody/merges"))[0] == 404
    assert (await stack.api("/v1/profiles/nobody/merges", key="wrong"))[0] == 401


async def test_the_profile_page_shows_the_timeline(
    stack: Stack, bus: Bus, start_service, aiohttp_client
) -> None:
    agent = await signed_in_client(start_service, aiohttp_client)
    a1, a2, user, second = await two_devices_one_user(bus)
    profile = await stack.profile_by(user_id=user)
    assert profile is not None
    html = await (await agent.get(f"/contacts/{profile['id']}")).text()
    merged = profile["merged_from"][0]
    assert f'href="/contacts/{merged}"' in html
    sentence = " ".join(html.split("Merged from", 1)[1].split("</p>", 1)[0].split())
    assert "because an identify from the API (trusted, message " + second.message_id in sentence
    assert f"named user id {user} and anonymous id {a2}" in sentence
    assert "rule: identify" in sentence


async def test_a_merge_finished_after_a_crash_keeps_the_cause_of_its_claim(
    aiohttp_server, settings: Settings, bus: Bus
) -> None:
    """The cause rides on the claim: the sweep that finishes a crashed merge records it."""
    identity = await aiohttp_server(identity_app(settings, pending_every=0.2))
    db = identity.app[DB]
    d1, d2 = uid("d"), uid("d")
    await settle(
        bus,
        event(WS, "page", anonymous_id=d1, source="widget", trusted=False),
        event(WS, "page", anonymous_id=d2, source="widget", trusted=False),
    )
    persons = []
    for did in (d1, d2):
        record = await db.distinct_ids.find_one({"workspace_id": WS, "distinct_id": did})
        persons.append(await db.persons.find_one({"_id": record["person_id"]}))
    older, newer = sorted(persons, key=lambda p: (p["created_at"], p["_id"]))
    cause = {"rule": "identify", "message_id": "m-crashed", "type": "identify"}
    await db.persons.update_one(  # a worker claimed it a minute ago, then crashed
        {"_id": newer["_id"]},
        {
            "$set": {
                "merged_into": older["_id"],
                "merge_pending": True,
                "merged_at": clock.now() - timedelta(minutes=1),
                "merge_reason": "identify",
                "merge_cause": cause,
            },
            "$inc": {"version": 1},
        },
    )

    async def recorded() -> bool:
        return await db.merges.find_one({"workspace_id": WS, "merged_id": newer["_id"]}) is not None

    await eventually(recorded, timeout=10)
    merge = await db.merges.find_one({"workspace_id": WS, "merged_id": newer["_id"]})
    assert merge["cause"] == cause and merge["survivor_id"] == older["_id"]

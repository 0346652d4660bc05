"""Every identity rule against the real servers: events go on the stream, profiles come back
through the identity service's request/reply API."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.bus import Bus, decode
from shared.errors import BusError
from tests.integration.identity_support import drained, event, publish
from tests.support import eventually

WS = "default"


@pytest.fixture
async def identity(start_service):
    return await start_service("identity")


async def ask(bus: Bus, verb: str, **payload: Any) -> Any:
    return await bus.request(
        bus.subjects.request("identity", verb), {"workspace_id": WS, **payload}
    )


async def by_did(bus: Bus, distinct_id: str) -> dict[str, Any]:
    found = await ask(bus, "profile.find", distinct_id=distinct_id)
    assert found["profiles"], f"no profile for {distinct_id}"
    return found["profiles"][0]


async def settle(bus: Bus, *events) -> None:
    await publish(bus, *events)
    await drained(bus)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_new_distinct_id_makes_a_visitor_and_email_a_contact(identity, bus: Bus) -> None:
    anon = uid("anon")
    await settle(bus, event(WS, "page", anonymous_id=anon, source="widget", trusted=False))
    profile = await by_did(bus, anon)
    assert profile["stage"] == "visitor" and profile["distinct_ids"] == [anon]
    await settle(
        bus,
        event(
            WS, "email", anonymous_id=anon, email="  Bob@Example.org", source="chat", trusted=False
        ),
    )
    profile = await by_did(bus, anon)
    assert profile["stage"] == "contact"
    assert profile["email"] == "bob@example.org"
    assert (await ask(bus, "profile.find", email="BOB@example.org "))["profiles"][0]["id"] == (
        profile["id"]
    )


async def test_stages_never_move_back(identity, bus: Bus) -> None:
    lead = uid("anon")
    await settle(bus, event(WS, "identify", anonymous_id=lead, traits={"email": "l@x.io"}))
    assert (await by_did(bus, lead))["stage"] == "contact"
    await settle(bus, event(WS, "identify", anonymous_id=lead, traits={"$unset": ["email"]}))
    contact = await by_did(bus, lead)
    assert contact["stage"] == "contact" and contact["email"] is None
    anon, user = uid("anon"), uid("user")
    await settle(
        bus,
        event(WS, "identify", user_id=user, anonymous_id=anon, traits={"email": "m@x.io"}),
    )
    assert (await by_did(bus, anon))["stage"] == "member"
    # an email removed and a later anonymous-only event do not demote
    await settle(
        bus,
        event(WS, "identify", user_id=user, traits={"email": None, "$unset": ["email"]}),
        event(WS, "track", anonymous_id=anon, event="Viewed", source="widget", trusted=False),
    )
    assert (await by_did(bus, anon))["stage"] == "member"


async def test_email_match_merges_an_anonymous_profile_into_an_existing_contact(
    identity, bus: Bus
) -> None:
    first, second = uid("anon"), uid("anon")
    await settle(
        bus,
        event(WS, "email", anonymous_id=first, email="lead@x.io", source="widget", trusted=False),
    )
    await settle(bus, event(WS, "page", anonymous_id=second, source="widget", trusted=False))
    await settle(
        bus,
        event(WS, "email", anonymous_id=second, email="LEAD@x.io", source="chat", trusted=False),
    )
    a, b = await by_did(bus, first), await by_did(bus, second)
    assert a["id"] == b["id"]
    assert set(a["distinct_ids"]) == {first, second}
    assert len(a["visitors"]) == 2  # both devices kept


async def test_unverified_email_never_joins_a_member_but_verified_does(identity, bus: Bus) -> None:
    user, device, stranger, server_anon = uid("user"), uid("anon"), uid("anon"), uid("anon")
    await settle(
        bus, event(WS, "identify", user_id=user, anonymous_id=device, traits={"email": "vip@x.io"})
    )
    # someone types the member's email into the chat: a separate contact
    await settle(
        bus,
        event(WS, "email", anonymous_id=stranger, email="vip@x.io", source="widget", trusted=False),
    )
    member, impostor = await by_did(bus, user), await by_did(bus, stranger)
    assert member["id"] != impostor["id"] and impostor["stage"] == "contact"
    # the backend (trusted) names the email for an anonymous id: verified, merged
    await settle(bus, event(WS, "identify", anonymous_id=server_anon, traits={"email": "vip@x.io"}))
    assert (await by_did(bus, server_anon))["id"] == member["id"]
    assert (await by_did(bus, stranger))["id"] == impostor["id"]


async def test_two_members_never_merge_and_the_conflict_is_recorded(
    identity, bus: Bus, start_service
) -> None:
    anon_a, anon_b, u1, u2 = uid("anon"), uid("anon"), uid("u1"), uid("u2")
    await settle(
        bus,
        event(WS, "identify", user_id=u1, anonymous_id=anon_a, traits={"name": "One"}),
        event(WS, "identify", user_id=u2, anonymous_id=anon_b, traits={"name": "Two"}),
    )
    # alias that would join two identified users: refused, the event still lands
    alias = event(WS, "alias", user_id=u1, previous_id=u2)
    await settle(bus, alias)
    one, two = await by_did(bus, u1), await by_did(bus, u2)
    assert one["id"] != two["id"] and one["name"] == "One" and two["name"] == "Two"
    events = await ask(bus, "profile.events", profile_id=one["id"])
    assert alias.message_id in [e["message_id"] for e in events["events"]]
    db = identity.app[__import__("shared.web", fromlist=["DB"]).DB]
    conflict = await db.conflicts.find_one({"message_id": alias.message_id})
    assert conflict and conflict["kind"] == "different_user_ids"


async def test_account_switch_on_a_shared_browser_does_not_inherit(identity, bus: Bus) -> None:
    shared, first, second = uid("anon"), uid("alice"), uid("bob")
    await settle(
        bus, event(WS, "identify", user_id=first, anonymous_id=shared, traits={"name": "Alice"})
    )
    await settle(
        bus, event(WS, "identify", user_id=second, anonymous_id=shared, traits={"name": "Bob"})
    )
    alice, bob = await by_did(bus, first), await by_did(bus, second)
    assert alice["id"] != bob["id"]
    assert (alice["name"], bob["name"]) == ("Alice", "Bob")
    assert bob["user_id"] == second and alice["user_id"] == first


async def test_older_events_never_overwrite_newer_traits(identity, bus: Bus) -> None:
    user = uid("user")
    await settle(
        bus,
        event(
            WS,
            "identify",
            user_id=user,
            timestamp="2026-05-02T10:00:00Z",
            traits={"plan": "pro", "$set_once": {"signup": "late"}},
        ),
    )
    await settle(
        bus,
        event(
            WS,
            "identify",
            user_id=user,
            timestamp="2026-05-01T10:00:00Z",
            traits={"plan": "free", "$set_once": {"signup": "early"}},
        ),
    )
    profile = await by_did(bus, user)
    assert profile["traits"]["plan"] == "pro"  # last write by event time
    assert profile["traits"]["signup"] == "early"  # set_once keeps the first by event time
    assert profile["first_seen"].startswith("2026-05-01")


async def test_redelivery_and_retries_never_double_count(identity, bus: Bus) -> None:
    anon = uid("anon")
    page = event(WS, "page", anonymous_id=anon, source="widget", trusted=False)
    await settle(bus, page)
    # the same message id again (a client retry after the dedupe window, a redelivery)
    js = bus.js
    assert js is not None
    await js.publish(
        bus.subjects.events(WS, "page"), __import__("json").dumps(page.to_dict()).encode()
    )
    await drained(bus)
    profile = await by_did(bus, anon)
    events = await ask(bus, "profile.events", profile_id=profile["id"])
    assert [e["message_id"] for e in events["events"]] == [page.message_id]


async def test_illegal_ids_go_to_the_dead_letter_subject_with_a_reason(identity, bus: Bus) -> None:
    js = bus.js
    assert js is not None
    dead = await js.pull_subscribe(
        bus.subjects.deadletter("identity"), durable="t-dead", stream=bus.subjects.deadletter_stream
    )
    bad = event(WS, "track", anonymous_id=uid("anon"), event="x").to_dict()
    bad["anonymous_id"] = "undefined"
    await js.publish(bus.subjects.events(WS, "track"), __import__("json").dumps(bad).encode())
    msgs = await dead.fetch(1, timeout=10)
    record = decode(msgs[0].data)
    assert record["code"] == "illegal_id" and "placeholder" in record["reason"]


async def test_merge_publishes_the_fact_and_moves_everything(identity, bus: Bus) -> None:
    js = bus.js
    assert js is not None
    facts = await js.pull_subscribe(
        bus.subjects.identity_fact("merged"),
        durable="t-merged",
        stream=bus.subjects.identity_stream,
    )
    user, laptop, phone = uid("user"), uid("anon"), uid("anon")
    await settle(bus, event(WS, "page", anonymous_id=laptop, source="widget", trusted=False))
    await settle(bus, event(WS, "page", anonymous_id=phone, source="widget", trusted=False))
    await settle(bus, event(WS, "identify", user_id=user, anonymous_id=laptop))
    older = (await by_did(bus, laptop))["id"]
    newer = (await by_did(bus, phone))["id"]
    await settle(bus, event(WS, "identify", user_id=user, anonymous_id=phone))
    msgs = await facts.fetch(1, timeout=10)
    fact = decode(msgs[0].data)
    assert (fact["survivor_id"], fact["merged_id"]) == (older, newer)
    profile = await by_did(bus, phone)
    assert profile["id"] == older and profile["merged_from"] == [newer]
    assert set(profile["distinct_ids"]) == {user, laptop, phone}
    events = await ask(bus, "profile.events", profile_id=newer)  # merged id: the survivor's
    assert len(events["events"]) == 4
    summaries = await ask(bus, "profile.summaries", ids=[newer], distinct_ids=[phone, "nobody"])
    assert summaries["profiles"][newer]["id"] == older
    assert summaries["distinct_ids"] == {"nobody": None, phone: summaries["profiles"][newer]}


async def test_promotion_fact_and_live_profile_update(identity, bus: Bus) -> None:
    js = bus.js
    assert js is not None
    frames: list[dict] = []

    async def keep(frame: dict) -> None:
        frames.append(frame)

    await bus.subscribe(bus.subjects.live_agents(WS), keep)
    promoted = await js.pull_subscribe(
        bus.subjects.identity_fact("promoted"),
        durable="t-prom",
        stream=bus.subjects.identity_stream,
    )
    anon = uid("anon")
    await settle(
        bus, event(WS, "email", anonymous_id=anon, email="p@x.io", source="widget", trusted=False)
    )
    fact = decode((await promoted.fetch(1, timeout=10))[0].data)
    assert fact["stage"] == "contact"

    async def got_frame() -> bool:
        return any(f["profile"].get("email") == "p@x.io" for f in frames)

    await eventually(got_frame)
    frame = next(f for f in frames if f["profile"].get("email") == "p@x.io")
    assert frame["type"] == "profile.updated" and anon in frame["profile"]["distinct_ids"]


async def test_search_and_resolve(identity, bus: Bus) -> None:
    user = uid("zed")
    await settle(
        bus,
        event(
            WS,
            "identify",
            user_id=user,
            anonymous_id=uid("anon"),
            traits={"name": "Zed Quux", "email": "zq@x.io"},
        ),
    )
    found = await ask(bus, "profile.search", q="quu")
    assert [p["user_id"] for p in found["profiles"]] == [user]
    members = await ask(bus, "profile.search", stage="member", limit=1)
    assert len(members["profiles"]) == 1
    assert (await ask(bus, "profile.resolve", distinct_id=user))["name"] == "Zed Quux"
    assert await ask(bus, "profile.resolve", distinct_id="never-seen") is None


async def test_a_bad_request_is_invalid_and_names_its_field(identity, bus: Bus) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("profile.summaries", {"ids": ["p1", 5]}, "ids"),  # was dropped silently
        ("profile.search", {"stage": "vip"}, "stage"),
        ("profile.search", {"limit": "many"}, "limit"),
        ("profile.events", {"profile_id": "p1", "before": "soon"}, "before"),
        ("profile.get", {"profile_id": ""}, "profile_id"),
    ]
    for verb, payload, field in cases:
        with pytest.raises(BusError) as err:
            await ask(bus, verb, **payload)
        assert err.value.code == "invalid" and field in str(err.value), (verb, str(err.value))
    page = await ask(bus, "profile.search", limit="2", q="", stage="")  # as query strings come
    assert set(page) == {"profiles", "next_cursor"}


async def test_a_page_view_sends_no_frame_a_trait_change_does(identity, bus: Bus) -> None:
    """`profile.updated` is for what the frame and the sidebar show (a trait, a promotion,
    a new profile), not for every page view's activity: each frame clears the dashboard's
    profile cache and refreshes an open sidebar."""
    frames: list[dict] = []

    async def keep(frame: dict) -> None:
        frames.append(frame)

    await bus.subscribe(bus.subjects.live_agents(WS), keep)
    anon = uid("anon")
    earlier = (datetime.now(UTC) - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    first = event(WS, "page", anonymous_id=anon, source="widget", trusted=False, timestamp=earlier)
    await settle(bus, first)

    def mine() -> list[dict]:
        return [f for f in frames if anon in f.get("profile", {}).get("distinct_ids", [])]

    async def announced(more_than: int) -> bool:
        return len(mine()) > more_than

    await eventually(lambda: announced(0))  # a new profile is announced
    seen = len(mine())
    await settle(bus, event(WS, "page", anonymous_id=anon, source="widget", trusted=False))
    await asyncio.sleep(0.5)  # a frame would have come by now (it did before the change)
    assert len(mine()) == seen, "a page view (last seen moved) is no news for the frame"
    assert (await by_did(bus, anon))["last_seen"] > earlier[:16]
    track = event(
        WS,
        "track",
        anonymous_id=anon,
        event="Plan chosen",
        properties={"$set": {"plan": "pro"}},
        source="widget",
        trusted=False,
    )
    await settle(bus, track)
    await eventually(lambda: announced(seen))
    profile = await by_did(bus, anon)
    assert profile["traits"]["plan"] == "pro"

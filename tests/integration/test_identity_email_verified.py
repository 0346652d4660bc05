"""An email typed in the chat, then the backend's identify with that email (Intercom's
lead -> user): verified identification merges the contact into the member; an email
typed after the member exists never does, nor does one held by another user id."""

from __future__ import annotations

import uuid

import pytest

from shared.bus import Bus
from shared.web import DB
from tests.integration.chat_support import Frames, ask, conversation_of, visitor_says
from tests.integration.identity_support import (
    Stack,
    call,
    drained,
    event,
    publish,
    segment_client,
)
from tests.support import eventually

WS = "default"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"


@pytest.fixture
async def stack(start_service, settings) -> Stack:
    identity = await start_service("identity")
    gateway = await start_service("gateway")
    await start_service("chat")
    return Stack(gateway, settings, [identity])


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def chat_email(stack: Stack, bus: Bus, distinct_id: str, email: str) -> dict:
    """An anonymous visitor browses, then writes her email in the chat: a contact."""
    await publish(
        bus,
        event(
            WS,
            "page",
            anonymous_id=distinct_id,
            source="widget",
            trusted=False,
            context={"userAgent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"},
        ),
    )
    await visitor_says(bus, f"v-{distinct_id}", f"hi, I'm {email}", distinct_id=distinct_id)
    contact = await stack.wait_profile(lambda p: p["stage"] == "contact", distinct_id=distinct_id)
    await drained(bus)  # the email event is applied whole, email matches included
    return contact


async def test_chat_email_then_server_identify_with_it_is_one_member_profile(
    stack: Stack, bus: Bus
) -> None:
    merges = await Frames.on(bus, bus.subjects.identity_fact("merged"))
    anon, user, email = uid("anon-sally"), uid("user"), f"{uid('sally')}@example.com"
    contact = await chat_email(stack, bus, anon, email)
    conversation = (await conversation_of(bus, f"v-{anon}"))["conversation_id"]

    analytics = segment_client(stack.gateway, stack.settings.write_key)  # a backend: no Origin
    await call(analytics.identify, user, {"email": email.upper()}, context={"userAgent": PHONE})
    member = await stack.wait_profile(lambda p: p["stage"] == "member", email=email)

    profiles = await stack.profiles(email=email)
    assert [p["id"] for p in profiles] == [member["id"]], "one profile for the email"
    assert member["id"] == contact["id"], "the older profile (the contact) survives"
    assert (member["user_id"], member["email"]) == (user, email)
    assert {anon, user} <= set(member["distinct_ids"])
    assert len(member["visitors"]) == 2, "the laptop and the phone both kept"
    assert member["merged_from"], "the merge is recorded"
    by_user, by_anon = (
        await stack.profile_by(user_id=user),
        await stack.profile_by(distinct_id=anon),
    )
    assert by_user is not None and by_user["id"] == member["id"]
    assert by_anon is not None and by_anon["id"] == member["id"]

    fact = await merges.wait_for(lambda f: f["survivor_id"] == member["id"])
    assert fact["merged_id"] in member["merged_from"] and fact["reason"] == "email"
    # a merged-away id answers with the survivor
    status, body = await stack.api(f"/v1/profiles/{fact['merged_id']}")
    assert status == 200 and body["id"] == member["id"]

    async def conversation_follows() -> bool:
        found = await ask(bus, "conversations.by_profile", profile_id=member["id"])
        return conversation in [c["id"] for c in found["conversations"]]

    await eventually(conversation_follows)


async def test_member_first_then_a_chat_email_stays_two_profiles(stack: Stack, bus: Bus) -> None:
    merges = await Frames.on(bus, bus.subjects.identity_fact("merged"))
    user, stranger, email = uid("user"), uid("anon"), f"{uid('vip')}@example.com"
    analytics = segment_client(stack.gateway, stack.settings.secret_key)
    await call(analytics.identify, user, {"email": email})
    member = await stack.wait_profile(lambda p: p["stage"] == "member", user_id=user)

    # someone types the member's email into the chat: unverified, never joins the member
    typed = await chat_email(stack, bus, stranger, email)
    assert typed["id"] != member["id"] and typed["user_id"] is None
    # the member's next routine login with the same email does not pull it in either
    await call(analytics.identify, user, {"email": email, "plan": "pro"})
    await stack.wait_profile(lambda p: p["traits"].get("plan") == "pro", user_id=user)
    await drained(bus)

    profiles = {p["id"]: p for p in await stack.profiles(email=email)}
    assert set(profiles) == {member["id"], typed["id"]}
    assert profiles[typed["id"]]["stage"] == "contact"
    assert stranger not in profiles[member["id"]]["distinct_ids"]
    assert merges.items == []


async def test_a_profile_with_another_user_id_is_not_merged_and_the_conflict_is_recorded(
    stack: Stack, bus: Bus
) -> None:
    bob_device, bob, user, email = uid("anon"), uid("bob"), uid("user"), f"{uid('x')}@example.com"
    # a contact from the chat who then signed up as another user (a shared inbox address)
    await chat_email(stack, bus, bob_device, email)
    analytics = segment_client(stack.gateway, stack.settings.secret_key)
    await call(analytics.identify, bob, anonymous_id=bob_device)
    first = await stack.wait_profile(lambda p: p["stage"] == "member", user_id=bob)

    mid = uid("identify")
    await call(analytics.identify, user, {"email": email}, message_id=mid)
    second = await stack.wait_profile(lambda p: p["email"] == email, user_id=user)
    await drained(bus)

    profiles = {p["id"]: p for p in await stack.profiles(email=email)}
    assert set(profiles) == {first["id"], second["id"]}
    assert {p["user_id"] for p in profiles.values()} == {bob, user}
    db = stack.identities[0].app[DB]
    conflict = await db.conflicts.find_one({"workspace_id": WS, "message_id": mid})
    assert conflict is not None and conflict["kind"] == "different_user_ids"
    assert conflict["user_ids"] == sorted([bob, user]) and conflict["email"] == email

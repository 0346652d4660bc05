"""An undone merge followed by the other services (issue 14): chat gives the re-created
profile its conversations back, the dashboard's profile page offers "Undo this merge" to
admins (a POST form with CSRF, refused with a reason when a later merge stands on it) and
the audit trail records who undid it. Real nats-server, SecantusDB, identity, chat,
gateway and dashboard."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.bus import Bus
from tests.integration.chat_support import ask, conversation_of, visitor_says
from tests.integration.dashboard_support import signed_in_client
from tests.integration.identity_support import Stack, drained, event, publish
from tests.integration.test_dashboard_notify_settings import invited_agent
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


async def conversations_of(bus: Bus, profile_id: str) -> set[str]:
    found = await ask(bus, "conversations.by_profile", profile_id=profile_id)
    return {c["id"] for c in found["conversations"]}


async def test_an_admin_undoes_a_merge_and_chat_follows(
    stack: Stack, bus: Bus, start_service, aiohttp_client
) -> None:
    admin = await signed_in_client(start_service, aiohttp_client, "chat")
    a1, a2, user = uid("a"), uid("a"), uid("u")
    for device in (a1, a2):
        await settle(bus, event(WS, "page", anonymous_id=device, source="widget", trusted=False))
    conversations = {}
    for device in (a1, a2):
        await visitor_says(bus, device, f"hello from {device}")
        conversations[device] = (await conversation_of(bus, device))["conversation_id"]
    await settle(bus, event(WS, "identify", user_id=user, anonymous_id=a1))
    await settle(bus, event(WS, "identify", user_id=user, anonymous_id=a2))
    merged = await stack.profile_by(user_id=user)
    assert merged is not None and len(merged["merged_from"]) == 1
    sid, mid = merged["id"], merged["merged_from"][0]

    async def together() -> bool:
        return await conversations_of(bus, sid) == set(conversations.values())

    await eventually(together, timeout=15)
    page = await (await admin.get(f"/contacts/{sid}")).text()
    [merge] = (await stack.api(f"/v1/profiles/{sid}/merges"))[1]["merges"]
    action = f'action="/contacts/{sid}/merges/{merge["id"]}/undo"'
    assert "Undo this merge" in page and action in page and "Yes, undo this merge" in page

    # an agent who is not an admin sees no button and may not post it
    bob = await invited_agent(admin, aiohttp_client, f"{uid('bob')}@example.com")
    assert "Undo this merge" not in await (await bob.get(f"/contacts/{sid}")).text()
    not_admin = await bob.post(
        f"/contacts/{sid}/merges/{merge['id']}/undo",
        data={"csrf": bob.csrf},
        allow_redirects=False,
    )
    assert not_admin.status == 403
    # no CSRF token: refused before anything happens
    bare = await admin.post(f"/contacts/{sid}/merges/{merge['id']}/undo", allow_redirects=False)
    assert bare.status == 403
    assert (await stack.api(f"/v1/profiles/{sid}/merges"))[1]["merges"] == [merge]
    # a malformed or unknown merge id is not found
    for bad in ("nope", "0" * 24):
        missing = await admin.post(
            f"/contacts/{sid}/merges/{bad}/undo", data={"csrf": admin.csrf}, allow_redirects=False
        )
        assert missing.status == 404

    done = await admin.post(
        f"/contacts/{sid}/merges/{merge['id']}/undo",
        data={"csrf": admin.csrf},
        allow_redirects=False,
    )
    assert done.status == 303, await done.text()
    assert done.headers["Location"] == f"/contacts/{sid}?unmerged={mid}"
    shown = await (await admin.get(done.headers["Location"])).text()
    assert "The merge was undone" in shown and f'href="/contacts/{mid}"' in shown
    assert "undone on" in shown and "kept apart since" in shown

    async def split() -> bool:
        return await conversations_of(bus, sid) == {conversations[a1]} and await conversations_of(
            bus, mid
        ) == {conversations[a2]}

    await eventually(split, timeout=15)
    back = await (await admin.get(f"/contacts/{mid}")).text()
    assert "Undo this merge" not in back  # nothing merged into it any more

    async def audited() -> bool:
        return "Undid a merge" in await (await admin.get("/audit")).text()

    await eventually(audited, timeout=10)


async def test_a_refused_undo_names_the_merge_to_undo_first(
    stack: Stack, bus: Bus, start_service, aiohttp_client
) -> None:
    admin = await signed_in_client(start_service, aiohttp_client)
    a, b, c, user = uid("a"), uid("b"), uid("c"), uid("u")
    email = f"{uid('lead')}@example.org"
    for device in (a, b, c):
        await settle(bus, event(WS, "page", anonymous_id=device, source="widget", trusted=False))
    for device in (b, c):
        await settle(
            bus, event(WS, "email", anonymous_id=device, email=email, source="chat", trusted=False)
        )
    await settle(bus, event(WS, "identify", user_id=user, anonymous_id=a))
    await settle(bus, event(WS, "identify", user_id=user, anonymous_id=b))
    top = await stack.profile_by(user_id=user)
    assert top is not None
    merges = {
        m["merged_id"]: m
        for m in (await stack.api(f"/v1/profiles/{top['id']}/merges"))[1]["merges"]
    }
    pb = (await stack.profile_by(distinct_id=b) or {}).get("id")
    earlier = next(m for m in merges.values() if m["survivor_id"] != top["id"])
    refused = await admin.post(
        f"/contacts/{top['id']}/merges/{earlier['id']}/undo",
        data={"csrf": admin.csrf},
        allow_redirects=False,
    )
    assert refused.status == 409
    text = await refused.text()
    assert f"undo the later merge {merges[earlier['survivor_id']]['id']} first" in text
    assert pb == top["id"]

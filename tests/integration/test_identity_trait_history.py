"""Trait history (issue 14): each trait keeps its recent values, bounded, ordered by event
time whatever the delivery order, carried through merges; the profiles API returns them
and the profile page shows them on click. Real nats-server, SecantusDB and services."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.bus import Bus
from tests.integration.dashboard_support import signed_in_client
from tests.integration.identity_support import Stack, drained, event, publish

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


async def history(stack: Stack, profile_id: str, name: str) -> list[dict[str, Any]]:
    status, body = await stack.api(f"/v1/profiles/{profile_id}/traits/{name}/history")
    assert status == 200, body
    assert list(body["traits"]) == [name]
    return body["traits"][name]


async def test_values_by_event_time_with_message_and_source(stack: Stack, bus: Bus) -> None:
    user, anon = uid("u"), uid("a")
    free = event(
        WS,
        "identify",
        user_id=user,
        anonymous_id=anon,
        traits={"plan": "free"},
        timestamp="2026-05-01T10:00:00Z",
    )
    await settle(bus, free)
    pro = event(
        WS,
        "track",
        anonymous_id=anon,
        event="Upgraded",
        source="widget",
        trusted=False,
        properties={"$set": {"plan": "pro"}},
        timestamp="2026-05-03T10:00:00Z",
    )
    late = event(  # an older identify delivered last
        WS, "identify", user_id=user, traits={"plan": "trial"}, timestamp="2026-04-01T10:00:00Z"
    )
    await settle(bus, pro)
    await settle(bus, late)
    profile = await stack.profile_by(user_id=user)
    assert profile is not None and profile["traits"]["plan"] == "pro"
    values = await history(stack, profile["id"], "plan")
    assert [(v["value"], v["source"], v["message_id"]) for v in values] == [
        ("pro", "widget", pro.message_id),
        ("free", "api", free.message_id),
        ("trial", "api", late.message_id),
    ]
    assert values[0]["at"].startswith("2026-05-03T10:00:00") and values[0]["mode"] == "set"
    assert await history(stack, profile["id"], "never_set") == []


async def test_bounded_to_the_latest_ten_and_unset_is_kept(stack: Stack, bus: Bus) -> None:
    user = uid("u")
    await settle(
        bus,
        *[
            event(
                WS,
                "identify",
                user_id=user,
                traits={"seats": n},
                timestamp=f"2026-05-01T10:{n:02d}:00Z",
            )
            for n in range(15)
        ],
    )
    gone = event(
        WS,
        "identify",
        user_id=user,
        traits={"$unset": ["seats"]},
        timestamp="2026-05-01T11:00:00Z",
    )
    await settle(bus, gone)
    profile = await stack.profile_by(user_id=user)
    assert profile is not None and "seats" not in profile["traits"]
    values = await history(stack, profile["id"], "seats")
    assert len(values) == 10
    assert values[0]["mode"] == "unset" and values[0]["value"] is None
    assert [v["value"] for v in values[1:]] == list(range(14, 5, -1))


async def test_a_merge_keeps_both_sides_history(stack: Stack, bus: Bus) -> None:
    a1, a2, user = uid("a"), uid("a"), uid("u")
    await settle(
        bus,
        event(
            WS,
            "page",
            anonymous_id=a1,
            source="widget",
            trusted=False,
            properties={"$set": {"color": "red"}},
            timestamp="2026-05-01T10:00:00Z",
        ),
        event(
            WS,
            "page",
            anonymous_id=a2,
            source="widget",
            trusted=False,
            properties={"$set": {"color": "blue"}},
            timestamp="2026-05-02T10:00:00Z",
        ),
    )
    await settle(bus, event(WS, "identify", user_id=user, anonymous_id=a1))
    await settle(bus, event(WS, "identify", user_id=user, anonymous_id=a2))
    profile = await stack.profile_by(user_id=user)
    assert profile is not None and profile["merged_from"]
    assert profile["traits"]["color"] == "blue"
    values = await history(stack, profile["id"], "color")
    assert [v["value"] for v in values] == ["blue", "red"]


async def test_unknown_profile(stack: Stack) -> None:
    assert (await stack.api("/v1/profiles/nobody/traits/plan/history"))[0] == 404
    assert (await stack.api("/v1/profiles/x/traits/plan/history", key="wrong"))[0] == 401


async def test_the_profile_page_opens_a_traits_history(
    stack: Stack, bus: Bus, start_service, aiohttp_client
) -> None:
    agent = await signed_in_client(start_service, aiohttp_client)
    user = uid("u")
    first = event(
        WS,
        "identify",
        user_id=user,
        traits={"plan": "<b>free</b>"},
        timestamp="2026-05-01T10:00:00Z",
    )
    await settle(bus, first)
    await settle(
        bus,
        event(
            WS, "identify", user_id=user, traits={"plan": "pro"}, timestamp="2026-05-02T10:00:00Z"
        ),
    )
    profile = await stack.profile_by(user_id=user)
    assert profile is not None
    html = await (await agent.get(f"/contacts/{profile['id']}")).text()
    block = html.split('data-trait="plan"', 1)[1].split("</details>", 1)[0]
    assert "<details>" in block and "<summary><code>plan</code>: pro" in block
    assert "&lt;b&gt;free&lt;/b&gt;" in block and "<b>free</b>" not in html
    assert first.message_id in block

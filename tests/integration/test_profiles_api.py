"""The profiles API: secret-key auth, look-ups, a merged id, events, paging, OpenAPI."""

from __future__ import annotations

from typing import Any

import pytest

from shared.bus import Bus
from tests.integration.identity_support import Stack, drained, event, publish

WS = "default"


@pytest.fixture
async def stack(start_service, settings) -> Stack:
    identity = await start_service("identity")
    gateway = await start_service("gateway")
    return Stack(gateway, settings, [identity])


async def seed(bus: Bus) -> None:
    await publish(
        bus,
        event(
            WS,
            "page",
            anonymous_id="pa-1",
            source="widget",
            trusted=False,
            timestamp="2026-06-01T10:00:00Z",
        ),
        event(
            WS,
            "page",
            anonymous_id="pa-2",
            source="widget",
            trusted=False,
            timestamp="2026-06-01T11:00:00Z",
        ),
    )
    await drained(bus)
    await publish(
        bus,
        event(
            WS,
            "identify",
            user_id="api-user",
            anonymous_id="pa-1",
            timestamp="2026-06-01T12:00:00Z",
            traits={"email": "Api@Example.com", "name": "Ann Api"},
        ),
    )
    await drained(bus)
    await publish(
        bus,
        event(
            WS,
            "identify",
            user_id="api-user",
            anonymous_id="pa-2",
            timestamp="2026-06-01T13:00:00Z",
        ),
        *[
            event(
                WS,
                "track",
                user_id="api-user",
                event=f"E{n}",
                timestamp=f"2026-06-02T10:{n:02d}:00Z",
            )
            for n in range(5)
        ],
    )
    await drained(bus)


async def test_lookups_merged_id_and_events(stack: Stack, bus: Bus) -> None:
    await seed(bus)
    by_user = await stack.profiles(user_id="api-user")
    by_email = await stack.profiles(email=" API@example.COM")
    by_did = await stack.profiles(distinct_id="pa-2")
    assert [p["id"] for p in by_user] == [p["id"] for p in by_email] == [p["id"] for p in by_did]
    profile = by_user[0]
    for field in (
        "id",
        "stage",
        "user_id",
        "email",
        "name",
        "age",
        "gender",
        "distinct_ids",
        "last_visit",
        "country_code",
        "region",
        "city",
        "referring_domain",
        "visitors",
        "first_seen",
        "traits",
        "engagement_score",
        "merged_from",
    ):
        assert field in profile
    assert profile["stage"] == "member" and profile["email"] == "api@example.com"
    assert profile["first_seen"].startswith("2026-06-01T10:00")
    (merged_id,) = profile["merged_from"]
    status, body = await stack.api(f"/v1/profiles/{merged_id}")
    assert status == 200 and body["id"] == profile["id"]
    status, body = await stack.api(f"/v1/profiles/{profile['id']}/events", limit=3)
    assert status == 200
    assert [e["event"] for e in body["events"]] == ["E4", "E3", "E2"]
    assert set(body["events"][0]) >= {
        "event",
        "type",
        "properties",
        "timestamp",
        "distinct_id",
        "message_id",
    }
    status, body = await stack.api("/v1/profiles/p_nope")
    assert status == 404 and body["code"] == "not_found"
    assert await stack.profiles(user_id="nobody") == []


async def test_listing_pages_with_a_cursor(stack: Stack, bus: Bus) -> None:
    await publish(
        bus,
        *[
            event(WS, "page", anonymous_id=f"list-{n}", source="widget", trusted=False)
            for n in range(7)
        ],
    )
    await drained(bus)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        status, body = await stack.api("/v1/profiles", **params)
        assert status == 200
        seen.extend(p["id"] for p in body["profiles"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7


async def test_the_secret_key_is_required(stack: Stack) -> None:
    status, body = await stack.api("/v1/profiles", key=stack.settings.write_key, user_id="x")
    assert status == 401 and set(body) == {"code", "message", "request_id"}
    status, _ = await stack.api("/v1/profiles", key="", user_id="x")
    assert status == 401
    status, body = await stack.api("/v1/profiles", email="not-an-email")
    assert status == 400


async def test_identity_down_answers_503(start_service, settings) -> None:
    stack = Stack(await start_service("gateway"), settings)
    status, body = await stack.api("/v1/profiles", user_id="x")
    assert status == 503 and body["code"] == "unavailable"


async def test_the_api_address_make_run_prints_points_to_the_openapi_document(
    stack: Stack,
) -> None:
    status, index = await stack.api("/v1/", key="")
    assert status == 200
    status, doc = await stack.api(index["openapi"], key="")
    assert status == 200 and "/v1/" in doc["paths"]

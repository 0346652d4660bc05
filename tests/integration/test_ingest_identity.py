"""Through the real ingest API and identity service: what the edge takes ends up right on the
profile (event-time order, visits from server page views, keys the store keeps as given)."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.identity_support import Stack


@pytest.fixture
async def stack(start_service, settings) -> Stack:
    identity = await start_service("identity")
    gateway = await start_service("gateway")
    return Stack(gateway, settings, [identity])


def _uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_a_back_dated_identify_cannot_pin_a_trait(stack: Stack) -> None:
    user = _uid("u")
    secret = stack.settings.secret_key
    writes = [
        ("2026-01-01T00:00:00Z", "First", 200),
        ("0999-01-01T00:00:00Z", "PINNED", 400),
        ("2026-01-03T00:00:00Z", "Latest", 200),
    ]
    for stamp, name, expected in writes:
        message = {"userId": user, "traits": {"name": name}, "timestamp": stamp}
        status, answer, _ = await stack.post("/v1/identify", message, key=secret)
        assert status == expected, answer
        if expected == 400:
            assert answer["code"] == "timestamp_out_of_range"
    profile = await stack.wait_profile(lambda p: p["name"] == "Latest", user_id=user)
    assert profile["last_seen"].startswith("2026-01-03")


async def test_a_server_page_view_is_a_visit_with_its_referrer(stack: Stack) -> None:
    anon = _uid("a")
    page = {
        "anonymousId": anon,
        "name": "Pricing",
        "properties": {
            "url": "https://shop.example/pricing",
            "referrer": "https://news.ycombinator.com/item?id=1",
        },
    }
    status, _, _ = await stack.post("/v1/page", page, key=stack.settings.secret_key)
    assert status == 200
    profile = await stack.wait_profile(lambda p: p["last_visit"], distinct_id=anon)
    assert profile["referring_domain"] == "news.ycombinator.com"
    (visitor,) = profile["visitors"]
    assert visitor["referring_domain"] == "news.ycombinator.com"


async def test_dollar_and_dotted_keys_inside_traits_are_kept(stack: Stack) -> None:
    user = _uid("u")
    address = {"street.name": "High St", "$zip": "N1"}
    status, _, _ = await stack.post(
        "/v1/identify",
        {"userId": user, "traits": {"address": address}},
        key=stack.settings.secret_key,
    )
    assert status == 200
    profile = await stack.wait_profile(lambda p: p["traits"].get("address"), user_id=user)
    assert profile["traits"]["address"] == address


async def test_a_trait_past_int32_reads_back_as_a_number_in_every_profile_answer(
    stack: Stack,
) -> None:
    """MongoDB hands such a number back as BSON's Int64 (found by schemathesis: a 500)."""
    user = _uid("u")
    big = 2**40
    message = {"userId": user, "traits": {"name": "Big", "seats": big}}
    status, answer, _ = await stack.post("/v1/identify", message, key=stack.settings.secret_key)
    assert status == 200, answer
    profile = await stack.wait_profile(lambda p: p["name"] == "Big", user_id=user)
    assert profile["traits"]["seats"] == big
    listed = await stack.profiles(q="big")  # the search answer, where the 500 was
    assert any(p["traits"].get("seats") == big for p in listed)
    status, one = await stack.api(f"/v1/profiles/{profile['id']}")
    assert status == 200 and one["traits"]["seats"] == big

"""Sally's whole journey through the official Segment client, read back through the profiles API:
page view -> email -> alias -> identify -> second device -> identify."""

from __future__ import annotations

import pytest

from shared.bus import Bus
from tests.integration.identity_support import (
    LONDON_IP,
    PARIS_IP,
    Stack,
    build_geoip,
    call,
    drained,
    event,
    publish,
    segment_client,
)


@pytest.fixture
async def stack(start_service, settings, tmp_path) -> Stack:
    settings = settings.with_changes(geoip_db=str(build_geoip(tmp_path / "geo.mmdb")))
    identity = await start_service("identity", settings=settings)
    gateway = await start_service("gateway", settings=settings)
    return Stack(gateway, settings, [identity])


async def test_sally_journey(stack: Stack, bus: Bus) -> None:
    ws = "default"
    analytics = segment_client(stack.gateway, stack.settings.write_key, gzip=True)
    laptop, phone = "anon-laptop-1", "anon-phone-1"
    chrome = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36"
    )
    # 1. a page view from her laptop in London, arriving from a search engine
    await call(
        analytics.page,
        anonymous_id=laptop,
        name="Pricing",
        properties={"url": "https://shop.example/pricing"},
        context={
            "ip": LONDON_IP,
            "userAgent": chrome,
            "page": {"url": "https://shop.example/pricing", "referrer": "https://www.google.com/q"},
        },
    )
    visitor = await stack.wait_profile(lambda p: p["last_visit"], distinct_id=laptop)
    assert visitor["stage"] == "visitor"
    assert (visitor["country_code"], visitor["region"], visitor["city"]) == ("GB", "ENG", "London")
    assert visitor["referring_domain"] == "google.com"
    assert visitor["visitors"][0]["browser"] == "Chrome 126"
    first_id = visitor["id"]

    # 2. she gives her email in the chat (the widget's prompt): a contact
    await publish(
        bus,
        event(
            ws,
            "email",
            anonymous_id=laptop,
            email=" Sally@Example.COM ",
            source="widget",
            trusted=False,
        ),
    )
    contact = await stack.wait_profile(lambda p: p["stage"] == "contact", distinct_id=laptop)
    assert contact["email"] == "sally@example.com"
    assert contact["id"] == first_id

    # 3. she signs up: the backend aliases her user id to the anonymous id
    await call(analytics.alias, laptop, "user-sally")
    member = await stack.wait_profile(lambda p: p["stage"] == "member", user_id="user-sally")
    assert member["id"] == first_id
    assert set(member["distinct_ids"]) == {laptop, "user-sally"}

    # 4. she logs in: identify with traits
    await call(
        analytics.identify,
        "user-sally",
        {"name": "Sally Smith", "age": 34, "gender": "female", "plan": "pro"},
        anonymous_id=laptop,
    )
    await stack.wait_profile(lambda p: p["name"] == "Sally Smith", user_id="user-sally")

    # 5. a second device: her phone in Paris browses anonymously, then she logs in there
    await call(
        analytics.page,
        anonymous_id=phone,
        name="Home",
        context={
            "ip": PARIS_IP,
            "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac "
            "OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 "
            "Safari/604.1",
        },
    )
    await stack.wait_profile(lambda p: p["city"] == "Paris", distinct_id=phone)
    await call(analytics.identify, "user-sally", {"plan": "team"}, anonymous_id=phone)
    # the merge and the identify's traits may land in two saves: wait for the end state
    merged = await stack.wait_profile(
        lambda p: phone in p["distinct_ids"] and p["traits"].get("plan") == "team",
        user_id="user-sally",
    )
    assert merged["id"] == first_id  # the older profile survives
    assert merged["stage"] == "member"
    assert merged["email"] == "sally@example.com"
    assert (merged["name"], merged["age"], merged["gender"]) == ("Sally Smith", 34, "female")
    assert merged["traits"]["plan"] == "team"
    assert len(merged["merged_from"]) == 1
    assert len(merged["visitors"]) == 2
    # the person shows the location of its most recent visitor: the phone in Paris
    assert (merged["country_code"], merged["city"]) == ("FR", "Paris")
    assert {v["device"] for v in merged["visitors"]} == {"desktop", "mobile"}

    # the merged-away id answers with the survivor, forever
    status, body = await stack.api(f"/v1/profiles/{merged['merged_from'][0]}")
    assert status == 200 and body["id"] == first_id
    for did in (laptop, phone, "user-sally"):
        found = await stack.profile_by(distinct_id=did)
        assert found is not None and found["id"] == first_id

    # every event of both devices is on the survivor, newest first
    await drained(bus)
    status, body = await stack.api(f"/v1/profiles/{first_id}/events", limit=50)
    assert status == 200
    kinds = [e["type"] for e in body["events"]]
    assert kinds.count("page") == 2 and kinds.count("identify") == 2
    assert "alias" in kinds and "email" in kinds
    stamps = [e["timestamp"] for e in body["events"]]
    assert stamps == sorted(stamps, reverse=True)
    page = next(e for e in body["events"] if e["type"] == "page" and e["distinct_id"] == phone)
    assert page["event"] == "Home" and page["message_id"]

"""Contacts: search by email, name or user id, filter by stage, open a profile (identity over the bus)."""

from __future__ import annotations

import pytest

from shared.bus import Bus
from shared.errors import PermanentError
from tests.integration.dashboard_support import signed_in_client

SALLY = {
    "id": "p-sally",
    "stage": "member",
    "name": "Sally <Ride>",
    "email": "sally@example.com",
    "user_id": "u-42",
    "distinct_ids": ["d-1", "d-2"],
    "city": "Lyon",
    "country_code": "FR",
    "last_visit": "2026-01-02T10:00:00Z",
    "merged_from": ["p-old"],
    "visitors": [
        {
            "distinct_ids": ["d-2"],
            "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) "
            "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            # what identity parsed from it (the dashboard renders these, never the raw agent)
            "browser": "Safari 17",
            "os": "iOS",
            "device": "mobile",
            "last_visit": "2026-01-02T10:00:00Z",
            "city": "Lyon",
        }
    ],
}


@pytest.fixture
async def identity_asks(bus: Bus) -> list[dict]:
    """Identity's search, get and events played over the bus; the requests it received."""
    asked: list[dict] = []

    async def search(req: dict) -> dict:
        asked.append(req)
        return {"profiles": [SALLY], "next_cursor": "c2"}

    async def get(req: dict) -> dict:
        if req["profile_id"] in ("p-sally", "p-old"):
            return SALLY
        raise PermanentError("no such profile", code="not_found")

    async def events(req: dict) -> dict:
        return {
            "events": [{"event": "Upgraded", "type": "track", "timestamp": "2026-01-02T09:00:00Z"}]
        }

    s = bus.subjects
    await bus.serve(s.request("identity", "profile.search"), search, queue="identity")
    await bus.serve(s.request("identity", "profile.get"), get, queue="identity")
    await bus.serve(s.request("identity", "profile.events"), events, queue="identity")
    return asked


@pytest.fixture
async def agent(start_service, aiohttp_client):
    return await signed_in_client(start_service, aiohttp_client, "chat")


async def test_search_passes_the_query_and_stage_and_lists_profiles(agent, identity_asks) -> None:
    response = await agent.get("/contacts?q=Sally&stage=member")
    html = await response.text()
    assert response.status == 200
    assert identity_asks[-1]["q"] == "Sally" and identity_asks[-1]["stage"] == "member"
    assert "Sally &lt;Ride&gt;" in html and "Sally <Ride>" not in html
    assert 'href="/contacts/p-sally"' in html
    assert "cursor=c2" in html
    await agent.get("/contacts?stage=bogus")
    assert "stage" not in identity_asks[-1]


async def test_profile_page_shows_the_person_devices_events_and_merges(
    agent, identity_asks
) -> None:
    html = await (await agent.get("/contacts/p-sally")).text()
    for text in (
        "Member",
        "sally@example.com",
        "u-42",
        "Lyon, FR",
        "Safari 17 on iOS (mobile)",
        "Upgraded",
        "p-old",
        "d-1",
    ):
        assert text in html, text
    moved = await agent.get("/contacts/p-old", allow_redirects=False)
    assert moved.status == 302 and moved.headers["Location"] == "/contacts/p-sally"
    assert (await agent.get("/contacts/p-none")).status == 404

"""Companies (Segment's group call) against real servers: the ingest API and the Python
Segment SDK make and update a company, people join it, a merge keeps it, the profiles
API and the dashboard's profile page (the conversation sidebar's template) show it."""

from __future__ import annotations

import uuid

import pytest

from shared.bus import Bus
from tests.integration.dashboard_support import signed_in_client
from tests.integration.identity_support import Stack, call, drained, segment_client
from tests.integration.mail_support import conversation_of, visitor_says
from tests.support import eventually

WS = "default"


@pytest.fixture
async def stack(start_service, settings) -> Stack:
    identity = await start_service("identity")
    gateway = await start_service("gateway")
    return Stack(gateway, settings, [identity])


async def _batch(stack: Stack, *messages: dict) -> None:
    status, body, _ = await stack.post(
        "/v1/batch", {"batch": list(messages)}, key=stack.settings.write_key
    )
    assert status == 200 and not body.get("rejected"), body


def _group(group_id: str, at: str, **fields) -> dict:
    return {"type": "group", "groupId": group_id, "timestamp": at, **fields}


async def _company(stack: Stack, group_id: str, **params) -> tuple[int, dict]:
    return await stack.api(f"/v1/companies/{group_id}", **params)


async def test_group_makes_a_company_later_traits_win_and_people_join(
    stack: Stack, bus: Bus
) -> None:
    await _batch(
        stack,
        _group(
            "acme",
            "2026-06-01T12:00:00Z",
            userId="u-ann",
            traits={"name": "Acme", "plan": "pro", "website": "https://acme.test", "seats": 5},
        ),
        # older than the first: loses on name, sets what nothing set yet
        _group(
            "acme",
            "2026-06-01T11:00:00Z",
            userId="u-ann",
            traits={"name": "Old Acme", "industry": "anvils"},
        ),
    )
    await drained(bus)
    status, company = await _company(stack, "acme")
    assert status == 200, company
    assert company["name"] == "Acme" and company["plan"] == "pro"
    assert company["website"] == "https://acme.test"
    assert company["traits"] == {
        "name": "Acme",
        "plan": "pro",
        "website": "https://acme.test",
        "seats": 5,
        "industry": "anvils",
    }
    # a later group updates; a second person (the real SDK, anonymous) joins
    analytics = segment_client(stack.gateway, stack.settings.write_key)
    await call(
        analytics.group,
        anonymous_id="anon-bob",
        group_id="acme",
        traits={"plan": "enterprise"},
        timestamp=None,
    )
    await drained(bus)
    status, company = await _company(stack, "acme")
    assert company["plan"] == "enterprise" and company["name"] == "Acme"
    assert company["people_count"] == 2
    ann = await stack.profile_by(user_id="u-ann")
    bob = await stack.profile_by(distinct_id="anon-bob")
    assert ann and bob
    assert {p["id"] for p in company["people"]} == {ann["id"], bob["id"]}
    assert ann["companies"] == [
        {
            "id": "acme",
            "name": "Acme",
            "plan": "enterprise",
            "website": "https://acme.test",
            "people_count": 2,
        }
    ]
    # paged: one a page, the cursor gives the other
    status, first = await _company(stack, "acme", limit=1)
    assert status == 200 and len(first["people"]) == 1 and first["next_cursor"]
    status, second = await _company(stack, "acme", limit=1, cursor=first["next_cursor"])
    assert {first["people"][0]["id"], second["people"][0]["id"]} == {ann["id"], bob["id"]}
    assert second.get("next_cursor") is None
    assert (await _company(stack, "nobody"))[0] == 404
    assert (await _company(stack, "acme", cursor="garbage"))[0] == 400
    assert (await _company(stack, "acme", key="wrong"))[0] == 401


async def test_a_merge_keeps_both_persons_companies(stack: Stack, bus: Bus) -> None:
    await _batch(
        stack,
        _group("c-one", "2026-06-01T10:00:00Z", anonymousId="anon-m", traits={"name": "One"}),
        _group("c-two", "2026-06-01T10:00:00Z", userId="u-m", traits={"name": "Two"}),
    )
    await drained(bus)
    await _batch(
        stack,
        {
            "type": "identify",
            "userId": "u-m",
            "anonymousId": "anon-m",
            "timestamp": "2026-06-01T11:00:00Z",
        },
    )
    await drained(bus)
    merged = await stack.wait_profile(lambda p: len(p["merged_from"]) == 1, user_id="u-m")
    assert sorted(c["id"] for c in merged["companies"]) == ["c-one", "c-two"]
    for group_id in ("c-one", "c-two"):
        _, company = await _company(stack, group_id)
        assert [p["id"] for p in company["people"]] == [merged["id"]]
        assert company["people_count"] == 1


async def test_a_group_without_a_group_id_is_refused(stack: Stack) -> None:
    status, body, _ = await stack.post(
        "/v1/batch",
        {"batch": [{"type": "group", "userId": "u-x", "traits": {"name": "X"}}]},
        key=stack.settings.write_key,
    )
    assert status == 400 and body["rejected"][0]["code"] == "missing_id", body


async def test_the_profile_page_shows_companies_escaped(
    stack: Stack, bus: Bus, start_service, aiohttp_client
) -> None:
    await _batch(
        stack,
        _group(
            "evil",
            "2026-06-01T10:00:00Z",
            userId="u-page",
            traits={"name": "<b>Evil</b> Inc", "plan": "<i>free</i>"},
        ),
    )
    await drained(bus)
    profile = await stack.profile_by(user_id="u-page")
    assert profile
    agent = await signed_in_client(start_service, aiohttp_client)

    async def shown() -> bool:
        html = await (await agent.get(f"/contacts/{profile['id']}")).text()
        return "&lt;b&gt;Evil&lt;/b&gt; Inc" in html

    await eventually(shown)
    html = await (await agent.get(f"/contacts/{profile['id']}")).text()
    assert "<b>Evil</b>" not in html and "&lt;i&gt;free&lt;/i&gt;" in html
    assert "1 person" in html


async def test_the_conversation_sidebar_shows_the_visitors_companies(
    stack: Stack, bus: Bus, start_service, aiohttp_client
) -> None:
    agent = await signed_in_client(start_service, aiohttp_client, "chat")
    visitor = "v-" + uuid.uuid4().hex[:12]
    await visitor_says(bus, visitor, "Hello, who are you?")
    cid = (await conversation_of(bus, visitor))["conversation_id"]
    await _batch(
        stack,
        _group(
            "side-co",
            "2026-06-01T10:00:00Z",
            anonymousId=visitor,
            traits={"name": "Side & <Co>", "plan": "trial"},
        ),
    )
    await drained(bus)

    async def shown() -> bool:
        html = await (await agent.get(f"/conversations/{cid}/sidebar")).text()
        return "Side &amp; &lt;Co&gt;" in html

    await eventually(shown)
    html = await (await agent.get(f"/conversations/{cid}/sidebar")).text()
    assert "<Co>" not in html and "trial" in html and "1 person" in html

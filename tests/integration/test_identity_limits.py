"""The distinct-id limit (issue 14): a merge that would give one person more than
`max_distinct_ids_per_person` distinct ids is held for a review instead; the review list
names it once per pair, with its cause, in identity's API and the dashboard. Real
nats-server, SecantusDB, identity and dashboard (the limit set to 4 for the test)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.bus import Bus
from tests.integration.dashboard_support import signed_in_client
from tests.integration.identity_support import drained, event, publish

WS = "default"
LIMIT = 4


@pytest.fixture
async def identity(start_service, settings):
    return await start_service("identity", settings.with_changes(max_distinct_ids_per_person=LIMIT))


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def ask(bus: Bus, verb: str, **payload: Any) -> Any:
    return await bus.request(
        bus.subjects.request("identity", verb), {"workspace_id": WS, **payload}
    )


async def settle(bus: Bus, *events: Any) -> None:
    await publish(bus, *events)
    await drained(bus)


async def person_with(bus: Bus, user: str, anons: list[str]) -> None:
    """`user` on every browser of `anons` (the first links, each later one merges)."""
    await settle(
        bus, *[event(WS, "page", anonymous_id=a, source="widget", trusted=False) for a in anons]
    )
    await settle(bus, *[event(WS, "identify", user_id=user, anonymous_id=a) for a in anons])


async def test_a_merge_past_the_limit_waits_for_a_review(
    identity, bus: Bus, start_service, aiohttp_client
) -> None:
    user = uid("u")
    anons = [uid("a") for _ in range(3)]
    await person_with(bus, user, anons)  # 4 ids: the user id and three browsers
    [big] = (await ask(bus, "profile.find", user_id=user))["profiles"]
    assert len(big["distinct_ids"]) == LIMIT and len(big["merged_from"]) == 2
    stranger = uid("a")
    await settle(bus, event(WS, "page", anonymous_id=stranger, source="widget", trusted=False))
    joining = event(WS, "identify", user_id=user, anonymous_id=stranger)
    await settle(bus, joining)
    again = event(WS, "identify", user_id=user, anonymous_id=stranger)
    await settle(bus, again)

    [still] = (await ask(bus, "profile.find", user_id=user))["profiles"]
    assert still["distinct_ids"] == big["distinct_ids"]  # nothing merged in
    [apart] = (await ask(bus, "profile.find", distinct_id=stranger))["profiles"]
    assert apart["id"] != still["id"] and apart["user_id"] is None
    answer = await ask(bus, "profile.merge_reviews")
    assert answer["limit"] == LIMIT
    [review] = answer["reviews"]
    assert review["kind"] == "too_many_distinct_ids"
    assert sorted(review["persons"]) == sorted([still["id"], apart["id"]])
    assert review["attempts"] == 2 and review["distinct_ids"] == LIMIT + 1
    assert review["cause"]["message_id"] == joining.message_id
    assert review["cause"]["rule"] == "identify" and review["cause"]["anonymous_id"] == stranger
    assert {s["id"] for s in review["sides"]} == {still["id"], apart["id"]}
    # the profile's own history shows it too
    history = await ask(bus, "profile.merges", profile_id=still["id"])
    assert [r["kind"] for r in history["refusals"]] == ["too_many_distinct_ids"]

    agent = await signed_in_client(start_service, aiohttp_client)
    html = await (await agent.get("/merge-reviews")).text()
    assert f'href="/contacts/{apart["id"]}"' in html and f'href="/contacts/{still["id"]}"' in html
    assert (
        "held for a review" in html and f"named user id {user} and anonymous id {stranger}" in html
    )
    assert "2 attempts" in html


async def test_merges_under_the_limit_go_on(identity, bus: Bus) -> None:
    user = uid("u")
    await person_with(bus, user, [uid("a"), uid("a")])
    [person] = (await ask(bus, "profile.find", user_id=user))["profiles"]
    assert len(person["distinct_ids"]) == 3 and len(person["merged_from"]) == 1

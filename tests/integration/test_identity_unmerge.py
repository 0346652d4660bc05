"""Undoing a merge (issue 14): the merged-away profile comes back under its own id with its
devices, ids, events and traits; later merges that stand on it are refused; the pair is
kept apart afterwards; no event is ever lost or counted twice, chained or racing. Real
nats-server, SecantusDB, identity and gateway; the profiles API with the secret key."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest

from shared.bus import Bus
from shared.web import DB
from tests.integration.identity_support import Stack, drained, event, publish
from tests.support import basic_auth, eventually

WS = "default"


@pytest.fixture
async def stack(start_service, settings) -> Stack:
    identity = await start_service("identity")
    gateway = await start_service("gateway")
    return Stack(gateway, settings, [identity])


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def settle(bus: Bus, *events: Any) -> list[str]:
    await publish(bus, *events)
    await drained(bus)
    return [e.message_id for e in events]


async def undo(stack: Stack, profile_id: str, merge_id: str, key: str | None = None):
    auth = basic_auth(key if key is not None else stack.settings.secret_key)
    url = f"{stack.url}/v1/profiles/{profile_id}/merges/{merge_id}/undo"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, headers=auth) as resp:
            return resp.status, await resp.json()


async def profile(stack: Stack, profile_id: str) -> dict[str, Any]:
    status, body = await stack.api(f"/v1/profiles/{profile_id}")
    assert status == 200, body
    return body


async def merges_of(stack: Stack, profile_id: str) -> dict[str, Any]:
    status, body = await stack.api(f"/v1/profiles/{profile_id}/merges")
    assert status == 200, body
    return body


async def found(stack: Stack, **params: Any) -> dict[str, Any]:
    """The first profile the look-up finds (there must be one)."""
    profile = await stack.profile_by(**params)
    assert profile is not None, params
    return profile


class Counter:
    """Events as identity stored them: by message id, and by the profile they belong to."""

    def __init__(self, stack: Stack) -> None:
        self.events = stack.identities[0].app[DB].events

    async def stored(self, message_ids: list[str]) -> int:
        return int(await self.events.count_documents({"message_id": {"$in": message_ids}}))

    async def of(self, stack: Stack, profile_id: str, message_ids: list[str]) -> int:
        found = await profile(stack, profile_id)
        family = [found["id"], *found["merged_from"]]
        query = {"person_id": {"$in": family}, "message_id": {"$in": message_ids}}
        return int(await self.events.count_documents(query))


def pages(anonymous_id: str, n: int, **props: Any) -> list[Any]:
    return [
        event(WS, "page", anonymous_id=anonymous_id, source="widget", trusted=False, **props)
        for _ in range(n)
    ]


async def test_an_undo_gives_back_the_profile_its_ids_events_and_traits(
    stack: Stack, bus: Bus
) -> None:
    a1, a2, user = uid("a"), uid("a"), uid("u")
    sent = await settle(bus, *pages(a1, 3))
    sent += await settle(bus, *pages(a2, 4))
    colour = event(
        WS,
        "track",
        anonymous_id=a2,
        event="Picked",
        properties={"$set": {"colour": "blue"}},
        trusted=False,
        source="widget",
    )
    sent += await settle(bus, colour)
    sent += await settle(
        bus, event(WS, "identify", user_id=user, anonymous_id=a1, traits={"plan": "pro"})
    )
    counter = Counter(stack)
    p1 = (await found(stack, distinct_id=a1))["id"]
    p2 = (await found(stack, distinct_id=a2))["id"]
    before = (await counter.of(stack, p1, sent), await counter.of(stack, p2, sent))
    assert before == (4, 5)
    sent += await settle(bus, event(WS, "identify", user_id=user, anonymous_id=a2))
    merged = await found(stack, user_id=user)
    assert sorted(merged["distinct_ids"]) == sorted([a1, a2, user])
    assert merged["traits"]["plan"] == "pro" and merged["traits"]["colour"] == "blue"
    assert await counter.of(stack, merged["id"], sent) == 10 == await counter.stored(sent)
    [merge] = (await merges_of(stack, merged["id"]))["merges"]
    gone = merge["merged_id"]
    assert gone == p2 and merge["survivor_id"] == merged["id"] == p1  # the older survives
    # after the merge, the merged-away device keeps sending: its events land on the survivor
    sent += await settle(bus, *pages(a2, 2))

    # the public write key may not undo; bad ids are not found
    status, _ = await undo(stack, merged["id"], merge["id"], key=stack.settings.write_key)
    assert status == 401
    assert (await undo(stack, merged["id"], "0" * 24))[0] == 404
    assert (await undo(stack, merged["id"], "not-an-id"))[0] == 404
    assert (await undo(stack, "p_nobody", merge["id"]))[0] == 404

    status, body = await undo(stack, merged["id"], merge["id"])
    assert status == 200, body
    assert body["id"] == gone and body["merged_from"] == []
    back = await profile(stack, gone)
    kept = await profile(stack, merged["id"])
    assert back["id"] == gone and kept["id"] == merged["id"]  # the original id answers again
    split_device = a2 if gone == p2 else a1
    kept_device = a1 if gone == p2 else a2
    assert split_device in back["distinct_ids"] and kept_device not in back["distinct_ids"]
    assert split_device not in kept["distinct_ids"] and kept_device in kept["distinct_ids"]
    assert gone not in kept["merged_from"]
    # never lost, never twice: each side holds its own events, the new ones included
    assert await counter.stored(sent) == len(sent) == 12
    assert await counter.of(stack, gone, sent) + await counter.of(stack, kept["id"], sent) == 12
    # a2's five, the identify that named it, its two since; a1's four stay
    assert await counter.of(stack, gone, sent) == 5 + 1 + 2
    assert await counter.of(stack, kept["id"], sent) == 4
    # traits recomputed from each side's events: the colour went with a2, the plan with a1
    by_device = {a1: back if split_device == a1 else kept, a2: back if split_device == a2 else kept}
    assert by_device[a2]["traits"].get("colour") == "blue"
    assert "colour" not in by_device[a1]["traits"]
    assert by_device[a1]["traits"].get("plan") == "pro"
    assert "plan" not in by_device[a2]["traits"]
    # the record: who and when; the merge no longer stands (a second undo finds nothing)
    history = await merges_of(stack, kept["id"])
    assert history["merges"] == []
    [record] = history["unmerges"]
    assert record["merge"]["id"] == merge["id"] and record["undone_by"]["kind"] == "api"
    assert record["undone_at"] and split_device in record["distinct_ids"]
    assert (await merges_of(stack, gone))["unmerges"] == [record]
    assert (await undo(stack, merged["id"], merge["id"]))[0] == 404
    # the undone link's alias (the user id with a2) went; each export names its own
    aliases = stack.identities[0].app[DB].aliases
    assert await aliases.count_documents({"user_id": user, "distinct_id": a2}) == 0
    assert await aliases.count_documents({"user_id": user, "distinct_id": a1}) == 1
    # new events of the split device land on the re-created profile
    later = await settle(bus, *pages(split_device, 2))
    assert await counter.of(stack, gone, later) == 2


async def test_a_do_not_merge_pair_refuses_the_next_identify(stack: Stack, bus: Bus) -> None:
    a1, a2, user = uid("a"), uid("a"), uid("u")
    await settle(bus, *pages(a1, 1))
    await settle(bus, *pages(a2, 1))
    await settle(bus, event(WS, "identify", user_id=user, anonymous_id=a1))
    await settle(bus, event(WS, "identify", user_id=user, anonymous_id=a2))
    merged = await found(stack, user_id=user)
    [merge] = (await merges_of(stack, merged["id"]))["merges"]
    status, back = await undo(stack, merged["id"], merge["id"])
    assert status == 200, back
    again = event(WS, "identify", user_id=user, anonymous_id=a2)
    await settle(bus, again)
    assert (await found(stack, distinct_id=a2))["id"] != (await found(stack, user_id=user))["id"]
    history = await merges_of(stack, merged["id"])
    refused = [r for r in history["refusals"] if r["kind"] == "do_not_merge"]
    assert refused and refused[0]["cause"]["message_id"] == again.message_id
    assert set(refused[0]["persons"]) == {merged["id"], back["id"]}
    # an alias between the two is refused the same way
    alias = event(WS, "alias", user_id=user, previous_id=a2)
    await settle(bus, alias)
    assert (await found(stack, distinct_id=a2))["id"] == back["id"]
    assert (await found(stack, distinct_id=a1))["id"] == merged["id"]
    refused = (await merges_of(stack, back["id"]))["refusals"]
    assert alias.message_id in {r["cause"]["message_id"] for r in refused}
    assert merge["merged_id"] == back["id"]


async def test_a_split_after_two_chained_merges(stack: Stack, bus: Bus) -> None:
    """C merges into B (an email), then B into A (an identify): undo the later, then the
    earlier; the earlier first is refused with the merge to undo before it."""
    a, b, c, user = uid("a"), uid("b"), uid("c"), uid("u")
    email = f"{uid('lead')}@example.org"
    sent = await settle(bus, *pages(a, 2))
    sent += await settle(bus, *pages(b, 3))
    sent += await settle(bus, *pages(c, 4))
    counter = Counter(stack)
    pa, pb, pc = [(await found(stack, distinct_id=d))["id"] for d in (a, b, c)]
    sent += await settle(
        bus, event(WS, "email", anonymous_id=b, email=email, source="chat", trusted=False)
    )
    sent += await settle(
        bus, event(WS, "email", anonymous_id=c, email=email, source="chat", trusted=False)
    )
    assert (await found(stack, distinct_id=c))["id"] == pb
    sent += await settle(bus, event(WS, "identify", user_id=user, anonymous_id=a))
    sent += await settle(bus, event(WS, "identify", user_id=user, anonymous_id=b))
    top = await found(stack, user_id=user)
    assert top["id"] == pa and set(top["merged_from"]) == {pb, pc}
    assert await counter.of(stack, pa, sent) == len(sent) == 13
    merges = {m["merged_id"]: m for m in (await merges_of(stack, pa))["merges"]}
    assert merges[pb]["survivor_id"] == pa and merges[pc]["survivor_id"] == pb

    status, body = await undo(stack, pa, merges[pc]["id"])
    assert status == 409, body
    assert body["code"] == "conflict"
    assert f"undo the later merge {merges[pb]['id']} first" in body["message"]

    status, body = await undo(stack, pa, merges[pb]["id"])
    assert status == 200, body
    assert body["id"] == pb and body["merged_from"] == [pc]
    assert sorted(body["distinct_ids"]) == sorted([b, c])
    assert await counter.of(stack, pa, sent) == 3  # a's two pages and its identify
    assert await counter.of(stack, pb, sent) == len(sent) - 3
    assert body["email"] == email

    status, body = await undo(stack, pb, merges[pc]["id"])
    assert status == 200, body
    assert body["id"] == pc and body["distinct_ids"] == [c] and body["merged_from"] == []
    assert await counter.stored(sent) == len(sent)
    counts = [await counter.of(stack, p, sent) for p in (pa, pb, pc)]
    # a: its pages and identify; b: its pages, email and the identify that named it;
    # c: its pages and its email
    assert counts == [2 + 1, 3 + 1 + 1, 4 + 1]
    assert (await profile(stack, pc))["email"] == email == (await profile(stack, pb))["email"]


async def test_an_undo_racing_new_events_for_both_sides(stack: Stack, bus: Bus) -> None:
    a1, a2, user = uid("a"), uid("a"), uid("u")
    sent = await settle(bus, *pages(a1, 5))
    sent += await settle(bus, *pages(a2, 5))
    sent += await settle(bus, event(WS, "identify", user_id=user, anonymous_id=a1))
    sent += await settle(bus, event(WS, "identify", user_id=user, anonymous_id=a2))
    merged = await found(stack, user_id=user)
    [merge] = (await merges_of(stack, merged["id"]))["merges"]
    counter = Counter(stack)
    racing: list[str] = []

    async def traffic() -> None:
        for _ in range(15):
            batch = pages(a1, 2) + pages(a2, 2)
            racing.extend(e.message_id for e in batch)
            await publish(bus, *batch)
            await asyncio.sleep(0.02)

    (status, body), _ = await asyncio.gather(undo(stack, merged["id"], merge["id"]), traffic())
    assert status == 200, body
    await drained(bus)
    after = await settle(bus, *pages(a1, 3), *pages(a2, 4))
    everything = sent + racing + after

    async def settled() -> bool:
        return await counter.stored(everything) == len(everything)

    await eventually(settled, timeout=15)
    gone, kept = body["id"], merged["id"]
    split, stays = (a2, a1) if (await found(stack, distinct_id=a2))["id"] == gone else (a1, a2)
    assert (await found(stack, distinct_id=stays))["id"] == kept

    async def split_done() -> bool:  # the late sweep moves what was in flight
        both = await counter.of(stack, gone, everything) + await counter.of(stack, kept, everything)
        return both == len(everything)

    await eventually(split_done, timeout=10)
    # what came after the undo is where it belongs, each side its own
    mine = [m for m in after]
    split_after = 3 if split == a1 else 4
    assert await counter.of(stack, gone, mine) == split_after
    assert await counter.of(stack, kept, mine) == 7 - split_after


async def test_the_last_merge_into_a_survivor_goes_first(stack: Stack, bus: Bus) -> None:
    a, b, c, user = uid("a"), uid("b"), uid("c"), uid("u")
    for device in (a, b, c):
        await settle(bus, *pages(device, 1))
    for device in (a, b, c):
        await settle(bus, event(WS, "identify", user_id=user, anonymous_id=device))
    top = await found(stack, user_id=user)
    merges = {m["merged_id"]: m for m in (await merges_of(stack, top["id"]))["merges"]}
    pb, pc = (await found(stack, distinct_id=b))["id"], (await found(stack, distinct_id=c))["id"]
    assert pb == pc == top["id"] and len(merges) == 2
    first, last = sorted(merges.values(), key=lambda m: m["at"])
    status, body = await undo(stack, top["id"], first["id"])
    assert status == 409 and f"undo the later merge {last['id']} first" in body["message"]
    assert (await undo(stack, top["id"], last["id"]))[0] == 200
    assert (await undo(stack, top["id"], first["id"]))[0] == 200
    ids = {(await found(stack, distinct_id=d))["id"] for d in (a, b, c)}
    assert len(ids) == 3 and (await found(stack, user_id=user))["id"] == top["id"]


async def test_a_merge_from_before_the_homes_stacks_is_refused_untouched(
    stack: Stack, bus: Bus
) -> None:
    a1, a2, user = uid("a"), uid("a"), uid("u")
    for device in (a1, a2):
        await settle(bus, *pages(device, 1))
    for device in (a1, a2):
        await settle(bus, event(WS, "identify", user_id=user, anonymous_id=device))
    merged = await found(stack, user_id=user)
    [merge] = (await merges_of(stack, merged["id"]))["merges"]
    db = stack.identities[0].app[DB]
    for collection in (db.distinct_ids, db.visitors):  # as an older version left them
        await collection.update_many({"person_id": merged["id"]}, {"$unset": {"homes": ""}})
    status, body = await undo(stack, merged["id"], merge["id"])
    assert status == 409 and "cannot be undone" in body["message"]
    assert (await merges_of(stack, merged["id"]))["merges"] == [merge]
    assert sorted((await profile(stack, merged["id"]))["distinct_ids"]) == sorted([a1, a2, user])
    # nothing was blocked: the pair still merges
    assert await db.do_not_merge.count_documents({"persons": merged["id"]}) == 0

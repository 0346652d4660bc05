"""Two identity workers on the same durable consumer give the same result as one."""

from __future__ import annotations

import uuid

import pytest

from services.identity import app as identity_app
from services.identity.app import PROCESSOR
from shared.bus import Bus
from shared.web import DB
from tests.integration.identity_support import drained, event, publish

WS = "default"


@pytest.fixture
async def workers(start_service, monkeypatch):
    monkeypatch.setattr(identity_app, "BATCH", 4)  # small fetches, so both workers get a share
    return [await start_service("identity"), await start_service("identity")]


async def live_persons(db, dids: list[str]) -> set[str]:
    docs = [d async for d in db.distinct_ids.find({"distinct_id": {"$in": dids}})]
    assert len(docs) == len(dids), "a distinct id was lost"
    live = set()
    for doc in docs:
        person = await db.persons.find_one({"_id": doc["person_id"]})
        while person and person.get("merged_into"):
            person = await db.persons.find_one({"_id": person["merged_into"]})
        assert person is not None
        live.add(person["_id"])
    return live


async def test_racing_identify_events_for_one_user_make_one_profile(workers, bus: Bus) -> None:
    user = "racer-" + uuid.uuid4().hex[:6]
    devices = [f"dev-{uuid.uuid4().hex[:8]}" for _ in range(30)]
    await publish(
        bus,
        *[
            event(WS, "identify", user_id=user, anonymous_id=d, traits={"n": i})
            for i, d in enumerate(devices)
        ],
    )
    await drained(bus, timeout=30)
    db = workers[0].app[DB]
    assert len(await live_persons(db, [user, *devices])) == 1
    assert await db.persons.count_documents({"user_id": user, "merged_into": None}) == 1
    assert all(w.app[PROCESSOR].applied > 0 for w in workers), "one worker did everything"


async def test_racing_merges_lose_no_distinct_id(workers, bus: Bus) -> None:
    user = "merger-" + uuid.uuid4().hex[:6]
    devices = [f"dev-{uuid.uuid4().hex[:8]}" for _ in range(24)]
    # every device has its own anonymous profile first
    await publish(
        bus, *[event(WS, "page", anonymous_id=d, source="widget", trusted=False) for d in devices]
    )
    await drained(bus, timeout=30)
    # then the user logs in on all of them at once: 23 merges race on two workers
    await publish(bus, *[event(WS, "identify", user_id=user, anonymous_id=d) for d in devices])
    await drained(bus, timeout=60)
    db = workers[0].app[DB]
    (survivor,) = await live_persons(db, [user, *devices])
    person = await db.persons.find_one({"_id": survivor})
    assert person["user_id"] == user and person["stage"] == "member"
    assert len(person["merged_from"]) == len(devices) - 1
    assert await db.persons.count_documents({"merge_pending": True}) == 0
    family = [survivor, *person["merged_from"]]
    assert await db.visitors.count_documents({"person_id": {"$in": family}}) == len(devices)
    assert all(w.app[PROCESSOR].applied > 0 for w in workers), "one worker did everything"

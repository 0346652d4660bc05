"""An undone merge's sides rebuilt from their events (services/identity/replay.py): the
records give back the writes their events made, and the same trait order decides."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from services.identity.model import Change, absorb, apply_change, new_person
from services.identity.replay import Rebuild, change_of, rebuilt, replayed

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def at(minute: int) -> datetime:
    return T0.replace(minute=minute)


def record(mid: str, kind: str, body: Any, minute: int, **more: Any) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "message_id": mid,
        "type": kind,
        "properties_json": text,
        "timestamp": at(minute),
        "source": more.get("source", "api"),
        "trusted": more.get("trusted", True),
    }


async def stream(*records: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    for r in records:
        yield r


def applied(person: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    change = change_of(rec)
    assert change is not None
    return apply_change(person, change)


def test_a_record_gives_back_its_events_writes() -> None:
    identify = record(
        "m1", "identify", {"plan": "pro", "$set_once": {"first": "x"}, "email": " A@X.org "}, 1
    )
    change = change_of(identify)
    assert change is not None
    assert change.set == {"plan": "pro"} and change.set_once == {"first": "x"}
    assert change.email == "a@x.org" and change.email_trusted
    assert change.at == "2026-12-01T10:01:00.000000Z" and change.message_id == "m1"
    browser = change_of({**identify, "source": "widget", "trusted": False})
    assert browser is not None and browser.email == "a@x.org" and not browser.email_trusted
    track = change_of(record("m2", "track", {"$set": {"email": "b@x.org", "tier": 2}}, 2))
    assert track is not None and track.set == {"tier": 2} and track.email == "b@x.org"
    cut = change_of(record("m3", "identify", '{"plan": "pro", "na', 3))
    assert cut is not None and cut.set == {} and cut.email is None
    assert change_of({**identify, "timestamp": None}) is None


async def test_each_side_keeps_its_own_traits_by_the_same_order() -> None:
    s_rec = [record("s1", "identify", {"plan": "free", "city": "Leeds"}, 1)]
    m_rec = [
        record("m1", "identify", {"plan": "pro"}, 5),
        record("m2", "track", {"$set_once": {"city": "Paris"}}, 0),
        record("m3", "page", {}, 7),
    ]
    survivor = new_person("p_s", "w", T0)
    for r in s_rec:
        survivor = applied(survivor, r)
    merged = new_person("p_m", "w", T0)
    for r in m_rec:
        merged = applied(merged, r)
    joined = absorb({**survivor, "version": 3}, merged)
    assert joined["traits"] == {"plan": "pro", "city": "Leeds"}  # a $set beats a $set_once
    # a write the survivor took after the merge that no record holds yet
    late = Change(at="2026-12-01T10:09:00.000000Z", message_id="s9", set={"mood": "ok"})
    joined = apply_change(joined, late)

    fresh_s, side_s = await replayed("p_s", "w", stream(*s_rec))
    fresh_m, side_m = await replayed("p_m", "w", stream(*m_rec))
    assert side_m.message_ids == {"m1", "m2", "m3"}
    s = rebuilt(fresh_s, side_s, side_m, Rebuild(joined, None, [], False, "visitor"))
    m = rebuilt(fresh_m, side_m, side_s, Rebuild(merged, None, [], True, "visitor"))
    assert s["traits"] == {"plan": "free", "city": "Leeds", "mood": "ok"}
    assert m["traits"] == {"plan": "pro", "city": "Paris"}
    assert {e[1] for e in s["trait_history"]["plan"]} == {"s1"}
    assert {e[1] for e in m["trait_history"]["plan"]} == {"m1"}
    assert m["last_seen"] == "2026-12-01T10:07:00.000000Z"  # activity replayed too
    assert s["version"] == 3 and s["merged_from"] == []


async def test_emails_go_with_the_events_that_gave_them() -> None:
    s_rec = [record("s1", "email", {"email": "both@x.org"}, 1, source="chat", trusted=False)]
    m_rec = [
        record("m1", "email", {"email": "both@x.org"}, 2, source="chat", trusted=False),
        record("m2", "identify", {"email": "mine@x.org"}, 3),
    ]
    survivor = applied(new_person("p_s", "w", T0), s_rec[0])
    merged = new_person("p_m", "w", T0)
    for r in m_rec:
        merged = applied(merged, r)
    joined = absorb({**survivor, "version": 1}, merged)
    assert joined["emails"] == ["both@x.org", "mine@x.org"]
    fresh_s, side_s = await replayed("p_s", "w", stream(*s_rec))
    fresh_m, side_m = await replayed("p_m", "w", stream(*m_rec))
    s = rebuilt(fresh_s, side_s, side_m, Rebuild(joined, None, [], False, None))
    m = rebuilt(fresh_m, side_m, side_s, Rebuild(merged, "u-1", [], True, None))
    assert s["emails"] == ["both@x.org"] and s["trusted_emails"] == [] and s["stage"] == "contact"
    assert m["emails"] == ["both@x.org", "mine@x.org"] and m["trusted_emails"] == ["mine@x.org"]
    assert m["user_id"] == "u-1" and m["stage"] == "member"

"""The pure profile rules: trait order, merges, stages, visits, engagement."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from services.identity.engagement import engagement_score
from services.identity.model import (
    Change,
    Visit,
    absorb,
    apply_change,
    apply_visit,
    new_person,
    new_visitor,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(hour: int) -> str:
    return f"2026-01-01T{hour:02d}:00:00.000000Z"


def person(pid: str = "p1") -> dict:
    return new_person(pid, "ws", T0)


def test_set_is_last_write_by_event_time_whatever_the_arrival_order() -> None:
    changes = [
        Change(at(9), "m1", set={"plan": "free"}),
        Change(at(11), "m2", set={"plan": "pro"}),
        Change(at(10), "m3", set={"plan": "team"}),
    ]
    results = set()
    for order in itertools.permutations(changes):
        p = person()
        for c in order:
            p = apply_change(p, c)
        results.add(p["traits"]["plan"])
    assert results == {"pro"}


def test_set_once_keeps_the_earliest_and_set_beats_set_once() -> None:
    p = apply_change(person(), Change(at(10), "m1", set_once={"source": "ads"}))
    p = apply_change(p, Change(at(8), "m2", set_once={"source": "seo"}))
    assert p["traits"]["source"] == "seo"
    p = apply_change(p, Change(at(7), "m3", set={"source": "manual"}))
    p = apply_change(p, Change(at(6), "m4", set_once={"source": "older"}))
    assert p["traits"]["source"] == "manual"


def test_unset_is_a_timed_write_too() -> None:
    p = apply_change(person(), Change(at(10), "m1", set={"color": "red"}))
    p = apply_change(p, Change(at(9), "m2", unset=["color"]))
    assert p["traits"]["color"] == "red"  # the unset is older
    p = apply_change(p, Change(at(11), "m3", unset=["color"]))
    assert p["traits"]["color"] is None


def test_stage_follows_email_and_user_id_and_never_goes_back() -> None:
    p = apply_change(person(), Change(at(1), "m1"))
    assert p["stage"] == "visitor"
    p = apply_change(p, Change(at(2), "m2", email="a@x.io"))
    assert p["stage"] == "contact" and p["email"] == "a@x.io"
    p = apply_change(p, Change(at(3), "m3", unset=["email"]))
    assert p["stage"] == "contact" and p["email"] is None
    p = apply_change(p, Change(at(4), "m4", user_id="u1"))
    assert p["stage"] == "member"
    p = apply_change(p, Change(at(5), "m5", user_id="u2"))
    assert p["user_id"] == "u1"  # a person never gets a second user id


def test_name_age_gender_from_traits() -> None:
    p = apply_change(
        person(),
        Change(
            at(1), "m", set={"firstName": "Sally", "lastName": "Ride", "age": "34", "gender": " f "}
        ),
    )
    assert (p["name"], p["age"], p["gender"]) == ("Sally Ride", 34, "f")
    assert "sally" in p["search"] and "ride" in p["search"]


def test_absorb_is_a_union_decided_by_the_same_order() -> None:
    a = apply_change(
        person("pa"), Change(at(5), "a1", set={"plan": "free", "a": 1}, email="x@y.io")
    )
    b = apply_change(
        person("pb"),
        Change(
            at(7),
            "b1",
            set={"plan": "pro", "b": 2},
            user_id="u",
            email_trusted=True,
            email="z@y.io",
        ),
    )
    b["merged_from"] = ["pc"]
    merged = absorb(a, b)
    assert merged["traits"]["plan"] == "pro" and merged["traits"]["a"] == 1
    assert merged["traits"]["b"] == 2
    assert merged["emails"] == ["x@y.io", "z@y.io"] and merged["trusted_emails"] == ["z@y.io"]
    assert merged["user_id"] == "u" and merged["stage"] == "member"
    assert merged["first_seen"] == at(5) and merged["last_seen"] == at(7)
    assert merged["merged_from"] == ["pb", "pc"]
    # the same pair absorbed the other way round holds the same content
    other = absorb(b, a)
    for key in ("traits", "emails", "stage", "first_seen", "last_seen", "email", "name"):
        assert other[key] == merged[key], key


def test_visit_keeps_latest_location_and_first_referrer() -> None:
    v = new_visitor("v", "ws", "p", "d", T0)
    late = Visit(
        at(12),
        "m2",
        True,
        {"country_code": "FR", "region": None, "city": "Paris"},
        "news.example",
        "UA2",
        {"browser": "Firefox 120", "os": "Linux", "device": "desktop"},
    )
    early = Visit(
        at(8),
        "m1",
        True,
        {"country_code": "GB", "region": "ENG", "city": "London"},
        "google.com",
        "UA1",
        None,
    )
    for order in ((late, early), (early, late)):
        out = v
        for visit in order:
            out = apply_visit(out, visit)
        assert (out["country_code"], out["city"]) == ("FR", "Paris")
        assert out["referring_domain"] == "news.example"
        assert out["initial_referring_domain"] == "google.com"
        assert out["first_seen"] == at(8) and out["last_visit"] == at(12)
        assert out["browser"] == "Firefox 120"


def test_engagement_score_formula() -> None:
    now = datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert engagement_score(None, [], now) == 0
    days = [(now - timedelta(days=n)).date().isoformat() for n in range(15)]
    assert engagement_score(now.isoformat(), days, now) == 100
    week_ago = (now - timedelta(days=7)).isoformat()
    assert engagement_score(week_ago, [], now) == 25  # recency halves each week
    assert engagement_score(week_ago, days[:3], now) == 35  # + 50 * 3/15
    old = [(now - timedelta(days=40)).date().isoformat()]
    assert engagement_score(week_ago, old, now) == 25  # outside the 30-day window

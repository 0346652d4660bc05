"""Segment messages to IngestEvents, ids, trust, enrichment helpers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.events_out import event_time, normalise
from services.identity.enrich import GeoIP, geo_from_context, parse_user_agent, referring_domain
from services.identity.interpret import plan_for
from shared import clock
from shared.errors import PermanentError
from shared.identifiers import illegal_id_reason, normalize_email
from shared.security import user_hash
from shared.workspaces import Workspace

WS = Workspace("w1", "W", "wk", "sk", "idsecret")
ENFORCING = Workspace("w2", "W", "wk2", "sk2", "idsecret", enforce_identity_verification=True)
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "  ",
        "undefined",
        "null",
        "NULL",
        "anonymous",
        "0",
        "-1",
        "000-00",
        "[object Object]",
        "NaN",
        "None",
        "'null'",
        '"undefined"',
        "guest",
        "distinct_id",
        "00000000-0000-0000-0000-000000000000",
    ],
)
def test_illegal_ids(value: str) -> None:
    assert illegal_id_reason(value)
    with pytest.raises(PermanentError) as info:
        normalise({"type": "identify", "userId": value}, WS, received=NOW)
    assert info.value.code in ("illegal_id", "no_user_anon_id")


def test_usable_ids_and_numbers() -> None:
    assert illegal_id_reason("user-1") is None and illegal_id_reason("10") is None
    ev = normalise({"type": "track", "userId": 42, "event": "E"}, WS, received=NOW)
    assert ev.user_id == "42"


def test_emails_are_trimmed_and_lowercased() -> None:
    assert normalize_email("  Sally@Example.COM ") == "sally@example.com"
    assert normalize_email("not an email") is None
    assert normalize_email(None) is None


def test_explicit_nulls_are_fine() -> None:
    raw = {
        "type": "page",
        "anonymousId": "a",
        "userId": None,
        "name": None,
        "category": None,
        "properties": None,
        "context": None,
        "integrations": None,
        "timestamp": None,
    }
    ev = normalise(raw, WS, received=NOW)
    assert ev.user_id is None and ev.properties == {} and ev.event is None


def test_clock_skew_correction_and_future_clamp() -> None:
    assert event_time("2026-05-01T11:59:50Z", "2026-05-01T12:00:00Z", NOW) == (
        "2026-05-01T11:59:50.000Z"
    )
    # a client clock ten minutes fast is corrected by sentAt
    assert event_time("2026-05-01T12:09:50Z", "2026-05-01T12:10:00Z", NOW) == (
        "2026-05-01T11:59:50.000Z"
    )
    assert event_time("2027-01-01T00:00:00Z", None, NOW) == "2026-05-01T12:00:00.000Z"
    with pytest.raises(PermanentError):
        event_time("yesterday", None, NOW)


def test_trust_rules() -> None:
    server = normalise({"type": "identify", "userId": "u"}, ENFORCING, trusted=True, received=NOW)
    assert server.trusted
    relaxed = normalise({"type": "identify", "userId": "u"}, WS, trusted=False, received=NOW)
    assert relaxed.trusted  # a workspace that does not enforce verification trusts browsers
    with pytest.raises(PermanentError) as info:
        normalise({"type": "identify", "userId": "u"}, ENFORCING, trusted=False, received=NOW)
    assert info.value.code == "verification_required"
    signed = {
        "type": "alias",
        "userId": "u",
        "previousId": "a",
        "integrations": {"Parley": {"user_hash": user_hash("idsecret", "u").upper()}},
    }
    assert normalise(signed, ENFORCING, trusted=False, received=NOW).trusted
    track = {"type": "track", "userId": "u", "anonymousId": "a", "event": "E"}
    assert not normalise(track, ENFORCING, trusted=False, received=NOW).trusted


def test_an_untrusted_user_id_is_ignored_by_identity() -> None:
    ev = normalise(
        {"type": "track", "userId": "u", "anonymousId": "a", "event": "E"},
        ENFORCING,
        trusted=False,
        received=NOW,
    )
    plan = plan_for(ev, GeoIP(None), set())
    assert plan.target == "a" and plan.other is None and plan.change.user_id is None


def test_identify_and_alias_plans() -> None:
    ident = normalise(
        {
            "type": "identify",
            "userId": "u",
            "anonymousId": "a",
            "traits": {"email": " X@Y.io ", "name": "N", "$set_once": {"src": 1}},
        },
        WS,
        trusted=True,
        received=NOW,
    )
    plan = plan_for(ident, GeoIP(None), set())
    assert (plan.target, plan.other, plan.may_merge) == ("u", "a", True)
    assert plan.change.email == "x@y.io" and plan.change.email_trusted
    assert plan.change.set == {"name": "N"} and plan.change.set_once == {"src": 1}
    alias = normalise(
        {"type": "alias", "userId": "u", "previousId": "a"}, WS, trusted=True, received=NOW
    )
    plan = plan_for(alias, GeoIP(None), set())
    assert (plan.target, plan.other, plan.target_is_user) == ("u", "a", True)


def test_referring_domain_ignores_the_site_itself() -> None:
    assert referring_domain(
        "https://www.Google.com/search?q=x", "https://shop.example/", set()
    ) == ("google.com")
    assert referring_domain("https://shop.example/a", "https://shop.example/b", set()) is None
    assert referring_domain("https://blog.shop.example/", None, {"blog.shop.example"}) is None
    assert referring_domain("", "https://shop.example/", set()) is None
    assert referring_domain("not a url", None, set()) is None


def test_user_agents() -> None:
    iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
    )
    assert parse_user_agent(iphone) == {"browser": "Safari 17", "os": "iOS", "device": "mobile"}
    edge = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91"
    )
    assert parse_user_agent(edge) == {"browser": "Edge 120", "os": "Windows", "device": "desktop"}
    curl = parse_user_agent("curl/8.0")
    assert curl is not None and curl["device"] == "bot"
    assert parse_user_agent(None) is None


def test_an_ipad_is_a_tablet_on_ipados() -> None:
    ipad = (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    )
    assert parse_user_agent(ipad) == {"browser": "Safari 17", "os": "iPadOS", "device": "tablet"}
    chrome_ipad = (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1"
    )
    assert parse_user_agent(chrome_ipad) == {
        "browser": "Chrome 124",
        "os": "iPadOS",
        "device": "tablet",
    }


def test_cdn_geo_wins_and_unknown_countries_are_dropped() -> None:
    geo = GeoIP(None)
    assert geo_from_context({"geo": {"country_code": "gb", "city": "London"}}, geo) == {
        "country_code": "GB",
        "region": None,
        "city": "London",
    }
    assert geo_from_context({"geo": {"country_code": "XX"}}, geo) is None
    assert geo_from_context({"ip": "81.2.69.142"}, geo) is None  # no database configured


def test_event_times_before_2000_are_refused_after_skew_correction() -> None:
    for stamp, sent in [
        ("0001-01-01T00:00:00Z", None),
        ("1999-12-31T23:59:59.999Z", None),
        ("0999-01-01T00:00:00Z", "2026-05-01T12:00:00Z"),
        ("2026-05-01T11:00:00Z", "9999-12-31T23:59:59Z"),  # the correction leaves the calendar
    ]:
        with pytest.raises(PermanentError) as info:
            event_time(stamp, sent, NOW)
        assert info.value.code == "timestamp_out_of_range", stamp
    # a clock stuck in 1970 that also stamps sentAt is corrected to the arrival time
    assert event_time("1970-01-01T00:00:00Z", "1970-01-01T00:00:01Z", NOW) == (
        "2026-05-01T11:59:59.000Z"
    )
    with pytest.raises(PermanentError) as info:
        event_time("0001-01-01T00:00:00+01:00", None, NOW)  # not representable in UTC
    assert info.value.code == "bad_timestamp"


def test_huge_numeric_ids_are_refused_with_a_reason_not_a_crash() -> None:
    for value in (int("9" * 400), 2**70, 1e300):
        with pytest.raises(PermanentError) as info:
            normalise({"type": "identify", "userId": value}, WS, received=NOW)
        assert info.value.code in ("bad_number", "illegal_id")
    ev = normalise({"type": "identify", "userId": 2**62}, WS, received=NOW)
    assert ev.user_id == str(2**62)


def test_an_ingest_event_before_2000_is_refused_from_any_producer() -> None:
    from shared.events import IngestEvent

    with pytest.raises(PermanentError) as info:
        IngestEvent(
            "w",
            "track",
            "m",
            "0999-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
            anonymous_id="a",
            event="e",
        )
    assert info.value.code == "timestamp_out_of_range"


def _iso(moment: datetime) -> str:
    return clock.iso(moment, "microseconds")  # what identity stores for event times


def test_identity_writes_every_year_at_a_fixed_width() -> None:
    assert _iso(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00.000000Z"
    assert _iso(datetime(2026, 5, 1, 12, tzinfo=UTC)) == "2026-05-01T12:00:00.000000Z"
    assert clock.iso(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00.000Z"


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        timezones=st.just(UTC), min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)
    ),
    st.datetimes(
        timezones=st.just(UTC), min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)
    ),
)
def test_text_order_of_event_times_is_time_order(a: datetime, b: datetime) -> None:
    assert (_iso(a) < _iso(b)) == (a < b) and len(_iso(a)) == 27


def test_one_code_per_condition_whoever_makes_the_event() -> None:
    """The gateway and IngestEvent used to disagree (missing_id vs no_user_anon_id, bad_id)."""
    from shared.events import IngestEvent

    with pytest.raises(PermanentError) as made:
        IngestEvent("w", "track", "m", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", event="e")
    with pytest.raises(PermanentError) as sent:
        normalise({"type": "track", "event": "e"}, WS, received=NOW)
    assert made.value.code == sent.value.code == "no_user_anon_id"
    for message_id in ("   ", 7, "x" * 201):
        with pytest.raises(PermanentError) as info:
            normalise({"type": "page", "anonymousId": "a", "messageId": message_id}, WS)
        assert info.value.code == "bad_message_id", message_id
    with pytest.raises(PermanentError) as info:
        normalise({"type": "alias", "anonymousId": "b", "previousId": "a"}, WS, received=NOW)
    assert info.value.code == "missing_id"


def test_numeric_and_snake_case_ids_are_taken_as_documented() -> None:
    alias = normalise({"type": "alias", "user_id": 5, "previous_id": 4.0}, WS, received=NOW)
    assert (alias.user_id, alias.previous_id) == ("5", "4")
    group = normalise({"type": "group", "userId": "u", "group_id": 12}, WS, received=NOW)
    assert group.properties["group_id"] == "12"
    both = normalise({"type": "page", "anonymousId": "camel", "anonymous_id": "snake"}, WS)
    assert both.anonymous_id == "camel"
    for bad in ({"userId": True}, {"traits": "x"}, {"type": "email"}):
        with pytest.raises(PermanentError) as info:
            normalise({"type": "identify", "anonymousId": "a", **bad}, WS, received=NOW)
        assert info.value.code == ("illegal_id" if "userId" in bad else "bad_type"), bad


def test_the_event_goes_on_the_bus_encoded_from_the_struct() -> None:
    import json

    from shared.bus import encode
    from shared.events import IngestEvent

    ev = normalise({"type": "track", "userId": "u", "event": "E", "properties": {"n": 1}}, WS)
    assert json.loads(encode(ev)) == ev.to_dict()
    assert IngestEvent.from_dict(json.loads(encode(ev))) == ev

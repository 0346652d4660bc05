"""Small rules of the dashboard: origins, business hours, browsers, who a row names."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.dashboard import hours, ua
from services.dashboard.people import fallback_person, person_from
from services.dashboard.render import Renderer, ago
from services.dashboard.views.conversation import snooze_until
from services.dashboard.views.settings import parse_origins
from services.identity.enrich import parse_user_agent
from shared.hours import is_open


def test_origins_are_normalised_and_anything_else_is_refused() -> None:
    assert parse_origins(
        "https://A.example.com/\n\nhttp://localhost:3000, https://a.example.com"
    ) == [
        "http://localhost:3000",
        "https://a.example.com",
    ]
    for bad in ("javascript:alert(1)", "https://x.com/path", "x.com", "ftp://x.com"):
        with pytest.raises(ValueError):
            parse_origins(bad)


def test_business_hours_need_a_known_zone_and_opening_before_closing() -> None:
    assert hours.parse_form({}) == {}
    with pytest.raises(hours.Invalid):
        hours.parse_form({"hours_enabled": "on", "timezone": "Mars/Olympus"})
    with pytest.raises(hours.Invalid):
        hours.parse_form(
            {"hours_enabled": "on", "wed_on": "on", "wed_open": "9am", "wed_close": "17:00"}
        )
    parsed = hours.parse_form(
        {
            "hours_enabled": "on",
            "timezone": "America/New_York",
            "fri_on": "on",
            "fri_open": "09:00",
            "fri_close": "17:00",
        }
    )
    # Friday 2026-01-09 14:30 UTC is 09:30 in New York
    assert is_open(parsed, datetime(2026, 1, 9, 14, 30, tzinfo=UTC))
    assert not is_open(parsed, datetime(2026, 1, 9, 13, 30, tzinfo=UTC))
    assert is_open({}, datetime(2026, 1, 10, 3, 0, tzinfo=UTC))  # none set: always open


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
            "Edge 124 on Windows",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            "Firefox 125 on Linux",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
            "Chrome 124 on Android (mobile)",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
            "Safari 17 on macOS",
        ),
        (None, ""),
    ],
)
def test_browser_and_os_from_a_user_agent(agent: str | None, expected: str) -> None:
    """Identity parses the agent once; the dashboard renders the fields it stored."""
    visitor = {**(parse_user_agent(agent) or {}), "user_agent": agent} if agent else None
    assert ua.describe(visitor) == expected


def test_an_unparsed_agent_is_shown_cut_short() -> None:
    assert ua.describe({"user_agent": "x" * 100, "browser": None, "os": None}) == "x" * 60


def test_rows_name_the_person_by_name_then_email_then_user_id() -> None:
    conversation = {
        "id": "c1",
        "visitor_id": "0f1e2d3c4b5a69788796a5b4",
        "profile_id": None,
        "email": None,
    }
    assert fallback_person(conversation)["label"] == "Visitor 96a5b4"
    assert fallback_person({**conversation, "email": "a@b.co"})["stage"] == "contact"
    profile = {"id": "p1", "stage": "member", "name": None, "email": None, "user_id": "u-7"}
    assert person_from(profile, conversation)["label"] == "u-7"
    assert person_from({**profile, "name": "Ann"}, conversation)["label"] == "Ann"


def test_templates_escape_and_snooze_times_are_in_the_future() -> None:
    env = Renderer().env
    assert env.from_string("{{ x }}").render(x="<script>") == "&lt;script&gt;"
    now = datetime(2026, 1, 9, 22, 0, tzinfo=UTC)
    assert snooze_until("tomorrow", now) == "2026-01-10T09:00:00.000Z"
    assert snooze_until("1h", now) == "2026-01-09T23:00:00.000Z"
    # "tomorrow" is the agent's wall clock: already the 10th in Tokyo, 09:00 on the 11th
    assert snooze_until("tomorrow", now, ZoneInfo("Asia/Tokyo")) == "2026-01-11T00:00:00.000Z"
    # the night clocks go forward in Paris (29 March 2026): 09:00 CEST is 07:00 UTC
    before = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert snooze_until("tomorrow", before, ZoneInfo("Europe/Paris")) == "2026-03-29T07:00:00.000Z"
    assert ago(None) == ""

"""shared.hours: the one reading of business hours that chat and the dashboard share."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.hours import is_open

MONDAY_NOON_UTC = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_a_span_opens_at_its_start_and_closes_at_its_end() -> None:
    hours = {"timezone": "UTC", "days": {"mon": ["12:00", "13:00"]}}
    assert is_open(hours, MONDAY_NOON_UTC)
    assert not is_open(hours, datetime(2026, 1, 5, 13, 0, tzinfo=UTC))
    assert not is_open(hours, datetime(2026, 1, 5, 11, 59, tzinfo=UTC))


def test_the_day_is_the_workspace_time_zone_day() -> None:
    # Monday 12:00 UTC is Monday 21:00 in Tokyo, and Tuesday 01:00 in Auckland (summer)
    assert is_open({"timezone": "Asia/Tokyo", "days": {"mon": ["20:00", "22:00"]}}, MONDAY_NOON_UTC)
    assert is_open(
        {"timezone": "Pacific/Auckland", "days": {"tue": ["00:00", "02:00"]}}, MONDAY_NOON_UTC
    )
    assert not is_open(
        {"timezone": "Pacific/Auckland", "days": {"mon": ["00:00", "23:59"]}}, MONDAY_NOON_UTC
    )


def test_no_hours_is_always_open_and_a_broken_shape_is_closed() -> None:
    assert is_open({}, MONDAY_NOON_UTC)
    assert not is_open({"timezone": "UTC", "days": {}}, MONDAY_NOON_UTC)
    assert not is_open({"timezone": "UTC", "days": {"mon": "all day"}}, MONDAY_NOON_UTC)
    assert not is_open({"timezone": "UTC", "days": ["mon"]}, MONDAY_NOON_UTC)
    # an unknown zone reads as UTC rather than failing the whole presence picture
    assert is_open(
        {"timezone": "Mars/Olympus", "days": {"mon": ["11:00", "13:00"]}}, MONDAY_NOON_UTC
    )

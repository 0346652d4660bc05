"""Business hours from the settings form; the stored shape and `is_open` are in shared.hours."""

from __future__ import annotations

import functools
import re
from typing import Any
from zoneinfo import available_timezones

from shared.hours import DAYS

DAY_NAMES = dict(
    zip(
        DAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


class Invalid(ValueError):
    pass


def parse_form(form: Any) -> dict[str, Any]:
    """From fields `hours_enabled`, `timezone`, `<day>_on`, `<day>_open`, `<day>_close`."""
    if form.get("hours_enabled") != "on":
        return {}
    tz = str(form.get("timezone", "UTC")).strip() or "UTC"
    if tz != "UTC" and tz not in _zones():
        raise Invalid(f"Unknown time zone {tz!r}.")
    days: dict[str, list[str]] = {}
    for day in DAYS:
        if form.get(f"{day}_on") != "on":
            continue
        start, end = str(form.get(f"{day}_open", "")), str(form.get(f"{day}_close", ""))
        if not (_HHMM.match(start) and _HHMM.match(end)) or start >= end:
            raise Invalid(f"{DAY_NAMES[day]}: opening must be before closing (HH:MM).")
        days[day] = [start, end]
    return {"timezone": tz, "days": days}

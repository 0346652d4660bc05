"""Business hours, as stored on a workspace: is it open at a given moment?

Shape (`Workspace.business_hours`): `{"timezone": "Europe/Paris",
"days": {"mon": ["09:00", "17:00"], ...}}`; a day that is absent is closed, and an
empty dict means no business hours are set (always open). The dashboard edits them;
chat reads them to tell visitors whether anyone will answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _zone(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return ZoneInfo("UTC")


def is_open(hours: dict[str, Any], at: datetime | None = None) -> bool:
    """True inside the day's span (opening included, closing excluded) or with no hours set."""
    if not hours:
        return True
    local = (at or datetime.now(UTC)).astimezone(_zone(hours.get("timezone")))
    days = hours.get("days")
    span = days.get(DAYS[local.weekday()]) if isinstance(days, dict) else None
    if not (isinstance(span, list | tuple) and len(span) == 2):
        return False  # closed that day, or a shape we do not understand: fail closed
    return str(span[0]) <= local.strftime("%H:%M") < str(span[1])

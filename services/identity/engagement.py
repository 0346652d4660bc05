"""The engagement score: recency and frequency of activity, 0 to 100 (docs/identity.md).

    score = round(50 * 0.5 ** (days since last seen / 7)
                + 50 * min(active days in the last 30, 15) / 15)

Recency halves every week of silence; frequency counts distinct days with any
event in the last 30 and saturates at 15 (every other day). Computed when read,
from `last_seen` and the set of active days, so it decays without any writes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shared.events import parse_time

HALF_LIFE_DAYS = 7
WINDOW_DAYS = 30
FULL_FREQUENCY = 15


def engagement_score(
    last_seen: str | None, active_days: list[str], now: datetime | None = None
) -> int:
    now = now or datetime.now(UTC)
    seen = parse_time(last_seen)
    if seen is None:
        return 0
    idle_days = max(0.0, (now - seen).total_seconds() / 86400)
    recency = 0.5 ** (idle_days / HALF_LIFE_DAYS)
    since = (now - timedelta(days=WINDOW_DAYS)).date()
    recent = 0
    for day in active_days:
        try:
            if since < date.fromisoformat(day) <= now.date():
                recent += 1
        except ValueError:
            continue
    frequency = min(recent, FULL_FREQUENCY) / FULL_FREQUENCY
    return round(50 * recency + 50 * frequency)

"""The one clock and the one ISO-8601 formatter every service uses.

`now()` is cut to the millisecond because that is what BSON keeps: a time read back from
MongoDB then compares equal to the one written (cursors and merge direction rely on it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, overload

Precision = Literal["milliseconds", "microseconds"]


def now() -> datetime:
    """Aware UTC now, to the millisecond."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@overload
def iso(moment: datetime, timespec: Precision = "milliseconds") -> str: ...
@overload
def iso(moment: None, timespec: Precision = "milliseconds") -> None: ...
def iso(moment: datetime | None, timespec: Precision = "milliseconds") -> str | None:
    """Fixed-width UTC text ending in `Z` (`YYYY-MM-DDTHH:MM:SS.fffZ`), so text order is
    time order; None stays None.

    Not `strftime("%Y")`: glibc writes year 999 as `999`, which sorts after `2026`.
    """
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def iso_now() -> str:
    return iso(now())

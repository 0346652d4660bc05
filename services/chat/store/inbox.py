"""Inbox pages newest-activity-first, served from index ranges at any collection size.

On MongoDB a sorted `find().limit()` after the cursor's position is the page
(`natural_page`). SecantusDB sorts the whole match in memory before applying the
limit (the dialect's `windowed_recent_pages`; measured: ~0.8 s for the first page at
10,000 conversations), so there (`windowed_page`) a bounded range on `last_activity_at`
is answered from the compound index at a cost proportional to what lies in the
range, so a page is read through time windows just older than the cursor, each
four times wider than the last, until the page is full. The cursor remembers
the width that filled the previous page, so the next one starts at the right
density. Ties on the cursor's own timestamp are read with an equality query
(an `$or` or `$nor` would lose the index bounds).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection

from services.chat.model import invalid
from shared import clock
from shared import cursor as cursors
from shared.dialect import Dialect
from shared.events import parse_time

RECENT = [("last_activity_at", -1), ("_id", -1)]
FIRST_WIDTH = timedelta(hours=1)
MIN_WIDTH = timedelta(seconds=1)
MAX_WIDTH = timedelta(days=3650)
GROWTH = 4
OLDEST = datetime(2000, 1, 1, tzinfo=UTC)


def encode_cursor(at: datetime, conversation_id: str, width: timedelta) -> str:
    return cursors.encode([clock.iso(at), conversation_id, int(width.total_seconds())])


def decode_cursor(text: Any) -> tuple[datetime, str, timedelta]:
    try:
        at, conversation_id, seconds = cursors.decode(text)
        parsed = parse_time(at)
        if parsed is None or not isinstance(conversation_id, str) or not isinstance(seconds, int):
            raise ValueError
    except (ValueError, TypeError) as exc:
        raise invalid("cursor is not valid") from exc
    width = min(max(timedelta(seconds=seconds), MIN_WIDTH), MAX_WIDTH)
    return parsed, conversation_id, width


Keep = Callable[[dict[str, Any]], bool]


async def recent_page(
    collection: AsyncIOMotorCollection,
    query: dict[str, Any],
    limit: int,
    cursor: str | None,
    dialect: Dialect,
    windowed: tuple[dict[str, Any], Keep] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `query` newest activity first, and the cursor of the next (or None).
    Both ways read the same cursors, so a page never depends on which way made the last.

    `windowed`: on the windowed dialect, the query to send instead and the check of the
    rest of `query` on what it finds. SecantusDB walks an index only when the filter's
    equality fields are exactly an index's leading fields (and never with `$expr`), so a
    filter one field wider than every index reads the whole collection; the caller names
    the part an index serves."""
    if dialect.windowed_recent_pages:
        indexed, keep = windowed or (query, None)
        return await windowed_page(collection, indexed, limit, cursor, keep)
    return await natural_page(collection, query, limit, cursor)


def after_position(at: datetime, last_id: str) -> dict[str, Any]:
    """What lies after a cursor's row, newest first (one `$or`: MongoDB keeps the bounds)."""
    return {
        "$or": [
            {"last_activity_at": {"$lt": at}},
            {"last_activity_at": at, "_id": {"$lt": last_id}},
        ]
    }


def natural_query(query: dict[str, Any], cursor: str | None) -> dict[str, Any]:
    if cursor is None:
        return dict(query)
    at, last_id, _ = decode_cursor(cursor)
    return {**query, **after_position(at, last_id)}


async def natural_page(
    collection: AsyncIOMotorCollection, query: dict[str, Any], limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    found = collection.find(natural_query(query, cursor)).sort(RECENT).limit(limit + 1)
    docs = await found.to_list(None)
    page = docs[:limit]
    if len(docs) <= limit:
        return page, None
    last = page[-1]
    return page, encode_cursor(last["last_activity_at"], last["_id"], FIRST_WIDTH)


async def windowed_page(
    collection: AsyncIOMotorCollection,
    query: dict[str, Any],
    limit: int,
    cursor: str | None,
    keep: Keep | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """`keep`: rows the query finds are checked by it, so each window is read whole (a
    limit could stop inside a window before the rows that pass)."""
    need = limit + 1

    async def read(found: Any, room: int) -> list[dict[str, Any]]:
        if keep is None:
            return list(await found.limit(room).to_list(None))
        return [d for d in await found.to_list(None) if keep(d)][:room]

    docs: list[dict[str, Any]] = []
    query, since, until = _split_range(query)
    floor = max(since or OLDEST, OLDEST)
    if cursor is None:
        upper, width = until, _FIRST_SPANS.get(_shape(query), FIRST_WIDTH)
        top = min(until, clock.now()) if until else clock.now()
    else:
        at, last_id, width = decode_cursor(cursor)
        tie = {**query, "last_activity_at": at, "_id": {"$lt": last_id}}
        docs = await read(collection.find(tie).sort("_id", -1), need)
        upper, top = at, at
    lower = top - width
    started = top
    while len(docs) < need:
        window: dict[str, Any] = {}
        if upper is not None:
            window["$lt"] = upper
        if lower > floor:
            window["$gte"] = lower
        elif since is not None:
            window["$gte"] = since
        docs += await read(
            collection.find({**query, "last_activity_at": window}).sort(RECENT), need - len(docs)
        )
        if lower <= floor:
            break
        upper, width = lower, min(width * GROWTH, MAX_WIDTH)
        lower = upper - width
    page = docs[:limit]
    if len(docs) <= limit:
        return page, None
    last = page[-1]
    # the span this page needed is a good first window for the next one
    span = max(started - last["last_activity_at"], MIN_WIDTH)
    if cursor is None:
        _remember_first_span(query, span)
    return page, encode_cursor(last["last_activity_at"], last["_id"], span)


def _split_range(query: dict[str, Any]) -> tuple[dict[str, Any], datetime | None, datetime | None]:
    """A query's own `last_activity_at` range (`$gte` since, `$lt` until) apart from the
    rest: the windows are cut to it."""
    bounds = query.get("last_activity_at")
    if not isinstance(bounds, dict):
        return query, None, None
    rest = {k: v for k, v in query.items() if k != "last_activity_at"}
    return rest, bounds.get("$gte"), bounds.get("$lt")


# The span that filled the last first page of each filter: the next first page of the same
# filter starts with it, so it is read in one or two windows rather than growing up from an
# hour each time (a "mine + open" page over a year of conversations: 6 queries). A hint only:
# too narrow it grows as before, too wide it holds more rows than the page; either way the
# page is the same and the next one corrects the span.
_FIRST_SPANS: dict[str, timedelta] = {}
MAX_REMEMBERED = 1000


def _shape(query: dict[str, Any]) -> str:
    return repr(sorted(query.items()))


def _remember_first_span(query: dict[str, Any], span: timedelta) -> None:
    if len(_FIRST_SPANS) >= MAX_REMEMBERED:
        _FIRST_SPANS.clear()
    _FIRST_SPANS[_shape(query)] = min(span * 5 / 4, MAX_WIDTH)  # time moves on meanwhile

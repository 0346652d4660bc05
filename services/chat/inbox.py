"""Inbox pages newest-activity-first, served from index ranges at any collection size.

A sorted `find().limit()` is not enough on every Mongo-wire server: SecantusDB
sorts the whole match in memory before applying the limit (measured: ~0.8 s for
the first page at 10,000 conversations). A bounded range on `last_activity_at`
is answered from the compound index at a cost proportional to what lies in the
range, so a page is read through time windows just older than the cursor, each
four times wider than the last, until the page is full. The cursor remembers
the width that filled the previous page, so the next one starts at the right
density. Ties on the cursor's own timestamp are read with an equality query
(an `$or` or `$nor` would lose the index bounds).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection

from services.chat.model import invalid, iso, now
from shared.events import parse_time

RECENT = [("last_activity_at", -1), ("_id", -1)]
FIRST_WIDTH = timedelta(hours=1)
MIN_WIDTH = timedelta(seconds=1)
MAX_WIDTH = timedelta(days=3650)
GROWTH = 4
OLDEST = datetime(2000, 1, 1, tzinfo=UTC)


def encode_cursor(at: datetime, conversation_id: str, width: timedelta) -> str:
    raw = [iso(at), conversation_id, int(width.total_seconds())]
    data = json.dumps(raw, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cursor(cursor: Any) -> tuple[datetime, str, timedelta]:
    if not isinstance(cursor, str) or len(cursor) > 300:
        raise invalid("cursor is not valid")
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at, conversation_id, seconds = raw
        parsed = parse_time(at)
        if parsed is None or not isinstance(conversation_id, str) or not isinstance(seconds, int):
            raise ValueError
    except (ValueError, TypeError) as exc:
        raise invalid("cursor is not valid") from exc
    width = min(max(timedelta(seconds=seconds), MIN_WIDTH), MAX_WIDTH)
    return parsed, conversation_id, width


async def recent_page(
    collection: AsyncIOMotorCollection,
    query: dict[str, Any],
    limit: int,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `query` newest activity first, and the cursor of the next (or None)."""
    need = limit + 1
    docs: list[dict[str, Any]] = []
    if cursor is None:
        upper, width = None, FIRST_WIDTH
        top = now()
    else:
        at, last_id, width = decode_cursor(cursor)
        tie = {**query, "last_activity_at": at, "_id": {"$lt": last_id}}
        docs = await collection.find(tie).sort("_id", -1).limit(need).to_list(None)
        upper, top = at, at
    lower = top - width
    started = top
    while len(docs) < need:
        window: dict[str, Any] = {}
        if upper is not None:
            window["$lt"] = upper
        if lower > OLDEST:
            window["$gte"] = lower
        found = await (
            collection.find({**query, "last_activity_at": window})
            .sort(RECENT)
            .limit(need - len(docs))
            .to_list(None)
        )
        docs += found
        if lower <= OLDEST:
            break
        upper, width = lower, min(width * GROWTH, MAX_WIDTH)
        lower = upper - width
    page = docs[:limit]
    if len(docs) <= limit:
        return page, None
    last = page[-1]
    # the span this page needed is a good first window for the next one
    span = max(started - last["last_activity_at"], MIN_WIDTH)
    return page, encode_cursor(last["last_activity_at"], last["_id"], span)

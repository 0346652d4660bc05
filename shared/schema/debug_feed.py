"""The event debugger's feed: what the gateway did with each message it was sent (v1).

The gateway publishes one `DebugEntries` per ingest call on `P.debug.events.<workspace>`
(core NATS, at-most-once: a debugger shows what it sees, nothing depends on it). Each
call contributes at most `MAX_ENTRIES` entries and every string is cut short, so a flood
of huge batches costs the feed a bounded amount. The dashboard keeps the latest
entries per workspace (services/dashboard/debug_feed.py) and shows them to admins.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

MAX_ENTRIES = 50  # per ingest call: the rest of a big batch is summed up in `omitted`
MAX_TEXT = 200

Text = Annotated[str, Meta(max_length=MAX_TEXT)]


class DebugEntry(msgspec.Struct, omit_defaults=True):
    """One message as the gateway saw it: accepted (durably published) or refused, and why."""

    status: Literal["accepted", "refused"]
    route: Text  # e.g. `/v1/t`, `/v1/batch`, `/beacon/v1/batch`
    type: Text | None = None  # identify, track, ...; None when the message had none
    event: Text | None = None
    user_id: Text | None = None
    anonymous_id: Text | None = None
    message_id: Text | None = None
    code: Text | None = None  # why refused (the API's error code)
    reason: Annotated[str, Meta(max_length=500)] | None = None
    library: Text | None = None  # context.library.name: which SDK sent it


class DebugEntries(msgspec.Struct):
    """One ingest call's entries, as published on `P.debug.events.<workspace>`."""

    workspace_id: Text
    at: Text  # ISO-8601, the gateway's clock
    entries: Annotated[list[DebugEntry], Meta(max_length=MAX_ENTRIES)]
    omitted: Annotated[int, Meta(ge=0)] = 0  # messages of the call beyond MAX_ENTRIES


def cut(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A value as short text for the feed (ids may be numbers), None when absent."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_entries(payload: Any) -> DebugEntries | None:
    """A feed payload as its Struct, or None when it does not fit (logged by the reader)."""
    try:
        return msgspec.convert(payload, DebugEntries)
    except msgspec.ValidationError:
        return None

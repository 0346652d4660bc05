"""The event debugger's feed: each ingest call's messages, accepted or refused, and why.

Published on core NATS (`P.debug.events.<workspace>`, shared/schema/debug_feed.py) after
the call is answered or refused; a failure to publish is logged and never fails ingest.
"""

from __future__ import annotations

import logging
from typing import Any

from shared import clock
from shared.bus import Bus
from shared.schema.debug_feed import MAX_ENTRIES, DebugEntries, DebugEntry, cut
from shared.schema.segment import Refused

log = logging.getLogger("parley.gateway.debug_feed")


def _field(raw: dict[str, Any], *names: str) -> str | None:
    for name in names:
        if raw.get(name) is not None:
            return cut(raw[name])
    return None


def _library(raw: dict[str, Any]) -> str | None:
    context = raw.get("context")
    library = context.get("library") if isinstance(context, dict) else None
    if not isinstance(library, dict):
        return None
    name, version = cut(library.get("name"), 80), cut(library.get("version"), 40)
    return f"{name} {version}" if name and version else name


def entry_of(route: str, raw: Any, kind: str | None, refused: Refused | None) -> DebugEntry:
    """One message of a call as the debugger shows it (what it can read of a bad one)."""
    fields = raw if isinstance(raw, dict) else {}
    return DebugEntry(
        status="refused" if refused else "accepted",
        route=route,
        type=kind or _field(fields, "type"),
        event=_field(fields, "event", "name"),
        user_id=_field(fields, "userId", "user_id"),
        anonymous_id=_field(fields, "anonymousId", "anonymous_id"),
        message_id=_field(fields, "messageId", "message_id"),
        code=refused.code if refused else None,
        reason=cut(refused.message, 500) if refused else None,
        library=_library(fields),
    )


async def _publish(bus: Bus, workspace_id: str, entries: list[DebugEntry], omitted: int) -> None:
    feed = DebugEntries(workspace_id, clock.iso_now(), entries, omitted)
    try:
        await bus.publish(bus.subjects.debug_events(workspace_id), feed)
    except Exception as exc:  # noqa: BLE001 - the debugger is best effort, ingest goes on
        log.warning("debugger feed not published: %r", exc)


async def report_messages(
    bus: Bus,
    workspace_id: str,
    route: str,
    messages: list[Any],
    kind: str | None,
    rejected: list[Refused],
) -> None:
    """The messages of a call that reached publishing: refused ones with their reason."""
    refusals = {r.index: r for r in rejected}
    shown = messages[:MAX_ENTRIES]
    entries = [entry_of(route, raw, kind, refusals.get(i)) for i, raw in enumerate(shown)]
    await _publish(bus, workspace_id, entries, len(messages) - len(shown))


async def report_call(
    bus: Bus, workspace_id: str, route: str, code: str, message: str, count: int = 1
) -> None:
    """A whole call refused once its workspace was known (origin, rate, a malformed batch)."""
    refused = Refused(0, code, message)
    entry = entry_of(route, None, None, refused)
    await _publish(bus, workspace_id, [entry], max(0, count - 1))

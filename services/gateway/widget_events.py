"""Browser identify/alias/track/page/email as `IngestEvent` records on the events stream.

The Segment API (ingest.py) publishes the same records; this module covers what
the widget socket sends, where the ids come from the signed visitor token rather
than from the frame.
"""

from __future__ import annotations

from typing import Any

from shared.bus import Bus
from shared.events import IngestEvent, utcnow_iso


async def publish_event(bus: Bus, event: IngestEvent) -> bool:
    """Store the event once per (workspace, message_id); True if it was new."""
    return await bus.publish_durable(
        bus.subjects.events(event.workspace_id, event.kind),
        event.to_dict(),
        f"{event.workspace_id}:{event.message_id}",
    )


def widget_event(
    workspace_id: str,
    kind: str,
    message_id: str,
    *,
    anonymous_id: str,
    user_id: str | None = None,
    trusted: bool = False,
    context: dict[str, Any] | None = None,
    **fields: Any,
) -> IngestEvent:
    """An event the widget reported now; raises PermanentError when it is not valid."""
    now = utcnow_iso()
    return IngestEvent(
        workspace_id=workspace_id,
        kind=kind,
        message_id=message_id,
        timestamp=now,
        received_at=now,
        source="widget",
        trusted=trusted,
        anonymous_id=anonymous_id,
        user_id=user_id,
        context=context or {},
        **fields,
    )

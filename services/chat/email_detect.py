"""An email written in a visitor's message makes them a contact: the event identity needs."""

from __future__ import annotations

from datetime import datetime

from shared import clock
from shared.events import IngestEvent
from shared.identifiers import find_email


def email_in(text: str) -> str | None:
    return find_email(text)


def email_event(
    workspace_id: str, distinct_id: str, email: str, message_id: str, at: datetime
) -> IngestEvent:
    """Unverified by nature: typing an email proves nothing about owning it."""
    return IngestEvent(
        workspace_id=workspace_id,
        kind="email",
        message_id=f"chat-email:{message_id}",
        timestamp=clock.iso(at) or clock.iso_now(),
        received_at=clock.iso_now(),
        source="chat",
        trusted=False,
        anonymous_id=distinct_id,
        email=email,
    )

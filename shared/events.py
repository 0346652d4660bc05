"""Versioned event schemas that cross the bus, validated where they enter.

`IngestEvent` is what the gateway (Segment API, widget socket) and the chat service
(an email written in a message) put on the events stream for the identity service.
`ProfileMerged` is the identity service's durable fact that other services follow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.errors import PermanentError
from shared.identifiers import illegal_id_reason, normalize_email

INGEST_VERSION = 1
KINDS = ("identify", "alias", "track", "page", "screen", "group", "email")
SOURCES = ("api", "widget", "chat")
# Segment's clients never send an event time before this; an older one is a broken
# clock or a back-dated write that would lose (or, unpadded, win) every ordering.
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)


def utcnow_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp (Segment style, `Z` or offset) as aware UTC, else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset that leaves years 1-9999
        return None


@dataclass(frozen=True, slots=True)
class IngestEvent:
    workspace_id: str
    kind: str
    message_id: str
    timestamp: str
    received_at: str
    source: str = "api"
    trusted: bool = False
    anonymous_id: str | None = None
    user_id: str | None = None
    previous_id: str | None = None
    event: str | None = None
    email: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    v: int = INGEST_VERSION

    def __post_init__(self) -> None:
        if self.v != INGEST_VERSION:
            raise PermanentError(f"unsupported event version {self.v}", code="bad_version")
        if self.kind not in KINDS:
            raise PermanentError(f"unknown event type {self.kind!r}", code="bad_type")
        if self.source not in SOURCES:
            raise PermanentError(f"unknown source {self.source!r}", code="bad_source")
        if (
            not self.message_id
            or not isinstance(self.message_id, str)
            or len(self.message_id) > 200
        ):
            raise PermanentError(
                "messageId is required (at most 200 characters)", code="bad_message_id"
            )
        if not self.workspace_id:
            raise PermanentError("workspace is required", code="bad_workspace")
        for name in ("anonymous_id", "user_id", "previous_id"):
            value = getattr(self, name)
            if value is not None and (reason := illegal_id_reason(value)):
                raise PermanentError(f"{name} {reason}", code="illegal_id")
        if not (self.anonymous_id or self.user_id):
            raise PermanentError("userId or anonymousId is required", code="missing_id")
        if self.kind == "alias" and not self.previous_id:
            raise PermanentError("alias needs previousId", code="missing_id")
        if self.kind == "track" and not (isinstance(self.event, str) and self.event.strip()):
            raise PermanentError("track needs an event name", code="missing_event")
        if self.kind == "email" and not normalize_email(self.email):
            raise PermanentError("email is not a valid address", code="bad_email")
        for name in ("traits", "properties", "context"):
            if not isinstance(getattr(self, name), dict):
                raise PermanentError(f"{name} must be an object", code="bad_type")
        moment = parse_time(self.timestamp)
        if moment is None:
            raise PermanentError("timestamp is not an ISO-8601 time", code="bad_timestamp")
        if moment < EARLIEST_EVENT:
            raise PermanentError(
                f"timestamp is before {EARLIEST_EVENT.year}", code="timestamp_out_of_range"
            )

    @property
    def distinct_id(self) -> str:
        """The id the event was made under: the user id when known, else the anonymous id."""
        return self.user_id or self.anonymous_id  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> IngestEvent:
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        try:
            return cls(**known)
        except TypeError as exc:
            raise PermanentError(f"malformed event: {exc}", code="bad_payload") from exc


@dataclass(frozen=True, slots=True)
class ProfileMerged:
    """`merged_id` now resolves to `survivor_id` forever; follow it in your own data."""

    workspace_id: str
    survivor_id: str
    merged_id: str
    at: str
    reason: str = "identify"
    v: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ProfileMerged:
        try:
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})
        except TypeError as exc:
            raise PermanentError(f"malformed merge fact: {exc}", code="bad_payload") from exc

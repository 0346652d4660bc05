"""Versioned event schemas that cross the bus, validated where they are made and read.

`IngestEvent` is what the gateway (Segment API, widget socket) and the chat service
(an email written in a message) put on the events stream for the identity service.
`ProfileMerged` is the identity service's durable fact that other services follow.
Both are msgspec Structs (shared/schema): the type is checked when read from the
bus (`from_dict`), the rules below when made or read, each with one code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import msgspec

from shared.errors import PermanentError
from shared.identifiers import illegal_id_reason, normalize_email
from shared.schema import builtins

INGEST_VERSION = 1
KINDS = ("identify", "alias", "track", "page", "screen", "group", "email")
SOURCES = ("api", "widget", "chat")
# Segment's clients never send an event time before this; an older one is a broken
# clock or a back-dated write that would lose (or, unpadded, win) every ordering.
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
MAX_MESSAGE_ID = 200
# the Segment name of each id, for the reasons given back to the sender
_ID_NAMES = {"anonymous_id": "anonymousId", "user_id": "userId", "previous_id": "previousId"}
_ENCODER = msgspec.json.Encoder()


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


EventKind = Literal["identify", "alias", "track", "page", "screen", "group", "email"]


class IngestEvent(msgspec.Struct, frozen=True):
    workspace_id: str
    kind: EventKind
    message_id: str
    timestamp: str
    received_at: str
    source: Literal["api", "widget", "chat"] = "api"
    trusted: bool = False
    anonymous_id: str | None = None
    user_id: str | None = None
    previous_id: str | None = None
    event: str | None = None
    email: str | None = None
    traits: dict[str, Any] = msgspec.field(default_factory=dict)
    properties: dict[str, Any] = msgspec.field(default_factory=dict)
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    v: int = INGEST_VERSION

    def __post_init__(self) -> None:
        self._check_envelope()
        self._check_ids()
        self._check_payload()
        self._check_time()

    def _check_envelope(self) -> None:
        if self.v != INGEST_VERSION:
            raise PermanentError(f"unsupported event version {self.v}", code="bad_version")
        if self.kind not in KINDS:
            raise PermanentError(f"unknown event type {self.kind!r}", code="bad_type")
        if self.source not in SOURCES:
            raise PermanentError(f"unknown source {self.source!r}", code="bad_source")
        if not self.workspace_id:
            raise PermanentError("workspace is required", code="bad_workspace")

    def _check_ids(self) -> None:
        mid = self.message_id
        if not isinstance(mid, str) or not mid.strip() or len(mid) > MAX_MESSAGE_ID:
            raise PermanentError(
                f"messageId must be a string of 1-{MAX_MESSAGE_ID} characters",
                code="bad_message_id",
            )
        for name, shown in _ID_NAMES.items():
            value = getattr(self, name)
            if value is not None and (reason := illegal_id_reason(value)):
                raise PermanentError(f"{shown} {reason}", code="illegal_id")
        if not (self.anonymous_id or self.user_id):
            raise PermanentError("userId or anonymousId is required", code="no_user_anon_id")
        if self.kind == "alias" and not (self.user_id and self.previous_id):
            raise PermanentError("alias needs userId and previousId", code="missing_id")

    def _check_payload(self) -> None:
        if self.kind == "track" and not (isinstance(self.event, str) and self.event.strip()):
            raise PermanentError("track needs an event name", code="missing_event")
        if self.kind == "email" and not normalize_email(self.email):
            raise PermanentError("email is not a valid address", code="bad_email")
        for name in ("traits", "properties", "context"):
            if not isinstance(getattr(self, name), dict):
                raise PermanentError(f"{name} must be an object", code="bad_type")

    def _check_time(self) -> None:
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
        built: dict[str, Any] = builtins(self)
        return built

    def to_json(self) -> bytes:
        """What goes on the bus: encoded straight from the struct, no dict copied."""
        return _ENCODER.encode(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> IngestEvent:
        return _read(raw, cls, "malformed event")


class ProfileMerged(msgspec.Struct, frozen=True):
    """`merged_id` now resolves to `survivor_id` forever; follow it in your own data."""

    workspace_id: str
    survivor_id: str
    merged_id: str
    at: str
    reason: str = "identify"
    v: int = 1

    def to_dict(self) -> dict[str, Any]:
        built: dict[str, Any] = builtins(self)
        return built

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ProfileMerged:
        return _read(raw, cls, "malformed merge fact")


_Shape = TypeVar("_Shape", bound=msgspec.Struct)


def _read(raw: Any, shape: type[_Shape], what: str) -> _Shape:
    """A bus payload as `shape`: a wrong shape is permanent (dead-lettered, `bad_payload`)."""
    try:
        return msgspec.convert(raw, shape)
    except msgspec.ValidationError as exc:
        raise PermanentError(f"{what}: {exc}", code="bad_payload") from exc

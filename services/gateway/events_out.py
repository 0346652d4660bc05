"""Segment messages to `IngestEvent`s on the durable events stream: shared by every edge.

The ingest API (`/v1/batch`, `/v1/identify`...) and the widget socket both call
`publish_events`. Trust (docs/identity.md, "Who is trusted"):
- `trusted=True` for a call with the secret key (a server: its SDK is configured
  with the secret key as its write key) and for the widget socket, which checks
  a `user_hash` itself: every message is trusted;
- `trusted=False` for a call with the write key, with or without an `Origin`
  header (the write key is public, so it proves nothing about the caller): if
  the workspace does not enforce identity verification, every message is
  trusted as Segment would; if it does, a message naming a `userId` is trusted
  only with a valid `user_hash` (HMAC-SHA256 of the user id with the
  workspace's identity secret) in `context.user_hash`/`context.userHash` or
  `integrations.Parley.user_hash`; an identify or alias without one is refused
  (`verification_required`), any other message goes on untrusted, so identity
  files it under its anonymous id only.

Every message is checked to be storable JSON (`shared.storable`) before it is
published, so what is accepted here is never refused by the database later.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import nats.errors

from shared import audit
from shared.bus import Bus
from shared.errors import BusError, PermanentError
from shared.events import EARLIEST_EVENT, IngestEvent, parse_time
from shared.identifiers import illegal_id_reason
from shared.storable import check_storable
from shared.workspaces import Workspace

MAX_MESSAGE_BYTES = 32 * 1024
MAX_FUTURE = timedelta(hours=1)
# What a failed publish raises: NATS unreachable, JetStream did not ack in time, no responders.
# Only these mean "retry"; anything else is a bug, never answered as an outage.
BUS_FAILURES = (BusError, nats.errors.Error, TimeoutError, ConnectionError)
TYPES = ("identify", "alias", "track", "page", "screen", "group")
WIDGET_TYPES = (*TYPES, "email")


@dataclass
class Rejected:
    index: int
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "code": self.code, "message": self.message}


def _id(value: Any, name: str) -> str | None:
    """Segment ids: strings, numbers stringified (the official clients do it), null allowed."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PermanentError(f"{name} must be a string", code="illegal_id")
    if isinstance(value, int):
        value = str(value)
    elif isinstance(value, float):  # finite: check_storable refused NaN and Infinity
        value = str(int(value)) if value.is_integer() else str(value)
    if reason := illegal_id_reason(value):
        raise PermanentError(f"{name} {reason}", code="illegal_id")
    return value


def _dict(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PermanentError(f"{name} must be an object", code="bad_type")
    return value


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _skew_corrected(original: datetime, sent: datetime | None, received: datetime) -> datetime:
    """receivedAt - (sentAt - timestamp), refused when that is before EARLIEST_EVENT."""
    try:
        moment = received - (sent - original) if sent else original
    except OverflowError:  # e.g. a sentAt in year 9999: the difference leaves datetime's range
        moment = None
    if moment is None or moment < EARLIEST_EVENT:
        raise PermanentError(
            f"timestamp (corrected with sentAt) is before {EARLIEST_EVENT.year}",
            code="timestamp_out_of_range",
        )
    return moment


def event_time(raw_time: Any, sent_at: Any, received: datetime) -> str:
    """Segment's clock-skew correction; never in the future, never before 2000."""
    if raw_time is None:
        return _iso(received)
    original = parse_time(raw_time)
    if original is None:
        raise PermanentError("timestamp is not an ISO-8601 time", code="bad_timestamp")
    moment = _skew_corrected(original, parse_time(sent_at), received)
    if moment > received + MAX_FUTURE:
        moment = received
    return _iso(moment)


def user_hash_of(raw: dict[str, Any]) -> str | None:
    context = raw.get("context") if isinstance(raw.get("context"), dict) else {}
    integrations = raw.get("integrations") if isinstance(raw.get("integrations"), dict) else {}
    ours = integrations.get("Parley") if isinstance(integrations.get("Parley"), dict) else {}
    for source in (context, ours):
        for key in ("user_hash", "userHash"):
            if isinstance(source.get(key), str):
                return source[key]
    return None


@dataclass
class _Ids:
    user_id: str | None
    anonymous_id: str | None
    previous_id: str | None
    message_id: str


@dataclass
class _Payload:
    event: str | None
    traits: dict[str, Any]
    properties: dict[str, Any]
    context: dict[str, Any]


def _checked_shape(raw: Any, batch_context: Any) -> dict[str, Any]:
    """Phase 1: a JSON object the store can hold, under the size limit."""
    if not isinstance(raw, dict):
        raise PermanentError("a message must be a JSON object", code="bad_type")
    check_storable(raw)
    if batch_context is not None:
        check_storable(batch_context, "the batch's context")
    size = len(json.dumps(raw, separators=(",", ":")).encode())
    if size > MAX_MESSAGE_BYTES:
        raise PermanentError(f"message is {size} bytes, over 32 KB", code="too_large")
    return raw


def _kind_of(raw: dict[str, Any], kind: str | None, source: str) -> str:
    """Phase 2: the message type, from the endpoint or the message."""
    kind = kind or raw.get("type")
    allowed = WIDGET_TYPES if source == "widget" else TYPES
    if kind not in allowed:
        raise PermanentError(f"type must be one of {', '.join(allowed)}", code="bad_type")
    return kind  # type: ignore[return-value]


def _ids_of(raw: dict[str, Any], kind: str) -> _Ids:
    """Phase 3: who the message is about, and its own id."""
    user_id = _id(raw.get("userId", raw.get("user_id")), "userId")
    anonymous_id = _id(raw.get("anonymousId", raw.get("anonymous_id")), "anonymousId")
    previous_id = _id(raw.get("previousId", raw.get("previous_id")), "previousId")
    if not (user_id or anonymous_id):
        raise PermanentError("userId or anonymousId is required", code="no_user_anon_id")
    if kind == "alias" and not (user_id and previous_id):
        raise PermanentError("alias needs userId and previousId", code="missing_id")
    message_id = raw.get("messageId") or raw.get("message_id")
    if message_id is None:
        message_id = f"gen-{uuid.uuid4()}"
    if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > 200:
        raise PermanentError("messageId must be a string under 200 characters", code="bad_id")
    return _Ids(user_id, anonymous_id, previous_id, message_id.strip())


def _payload_of(
    raw: dict[str, Any],
    kind: str,
    batch_context: dict[str, Any] | None,
    context_extra: dict[str, Any] | None,
) -> _Payload:
    """Phase 4: the event name, traits, properties and context, per type."""
    context = {**_dict(batch_context, "context"), **_dict(raw.get("context"), "context")}
    context.update(context_extra or {})
    properties = dict(_dict(raw.get("properties"), "properties"))
    traits = dict(_dict(raw.get("traits"), "traits"))
    event = raw.get("event")
    if kind in ("page", "screen"):
        name = raw.get("name")
        event = name if isinstance(name, str) and name.strip() else None
        for key in ("name", "category"):
            if isinstance(raw.get(key), str):
                properties.setdefault(key, raw[key])
    if kind == "group":
        group_id = _id(raw.get("groupId", raw.get("group_id")), "groupId")
        if not group_id:
            raise PermanentError("group needs a groupId", code="missing_id")
        properties["group_id"] = group_id
    if kind == "track" and not (isinstance(event, str) and event.strip()):
        raise PermanentError("track needs an event name", code="missing_event")
    name = event.strip()[:200] if isinstance(event, str) else None
    return _Payload(name, traits, properties, context)


def normalise(
    raw: Any,
    workspace: Workspace,
    *,
    kind: str | None = None,
    source: str = "api",
    trusted: bool = False,
    context_extra: dict[str, Any] | None = None,
    batch_context: dict[str, Any] | None = None,
    sent_at: Any = None,
    received: datetime | None = None,
) -> IngestEvent:
    """One Segment message as an IngestEvent; PermanentError says why it cannot be."""
    message = _checked_shape(raw, batch_context)
    kind = _kind_of(message, kind, source)
    ids = _ids_of(message, kind)
    payload = _payload_of(message, kind, batch_context, context_extra)
    received = received or datetime.now(UTC)
    timestamp = event_time(
        message.get("timestamp") or message.get("originalTimestamp"), sent_at, received
    )
    return IngestEvent(
        workspace_id=workspace.id,
        kind=kind,
        message_id=ids.message_id,
        timestamp=timestamp,
        received_at=_iso(received),
        source=source,
        trusted=_trust(workspace, trusted, kind, ids.user_id, message),
        anonymous_id=ids.anonymous_id,
        user_id=ids.user_id,
        previous_id=ids.previous_id,
        event=payload.event,
        email=message.get("email") if kind == "email" else None,
        traits=payload.traits,
        properties=payload.properties,
        context=payload.context,
    )


def _trust(ws: Workspace, channel_trusted: bool, kind: str, user_id: str | None, raw: dict) -> bool:
    if channel_trusted or not ws.enforce_identity_verification:
        return True
    named = user_id or (raw.get("userId") if kind == "alias" else None)
    if named and ws.verify_user_hash(named, user_hash_of(raw)):
        return True
    if kind in ("identify", "alias") and named:
        raise PermanentError(
            "identity verification is required: give a valid user_hash",
            code="verification_required",
        )
    return False


def subject_and_id(bus: Bus, event: IngestEvent) -> tuple[str, dict[str, Any], str]:
    return (
        bus.subjects.events(event.workspace_id, event.kind),
        event.to_dict(),
        f"{event.workspace_id}:{event.message_id}",
    )


async def publish_events(
    bus: Bus,
    workspace: Workspace,
    raw_messages: list[Any],
    *,
    source: str = "api",
    trusted: bool = False,
    context_extra: dict[str, Any] | None = None,
    batch_context: dict[str, Any] | None = None,
    sent_at: Any = None,
) -> list[Rejected]:
    """Validate, normalise and durably publish; returns the messages refused (with why).

    Valid messages are published even when others are refused; the caller decides
    how to report the refusals. Returns after JetStream acked every published one
    (raises if any publish failed: the caller answers 5xx and the client retries,
    which the message ids make safe).
    """
    received = datetime.now(UTC)
    events: list[IngestEvent] = []
    rejected: list[Rejected] = []
    for index, raw in enumerate(raw_messages):
        try:
            events.append(
                normalise(
                    raw,
                    workspace,
                    source=source,
                    trusted=trusted,
                    context_extra=context_extra,
                    batch_context=batch_context,
                    sent_at=sent_at,
                    received=received,
                )
            )
        except PermanentError as exc:
            rejected.append(Rejected(index, exc.code, str(exc)))
    if any(r.code == "verification_required" for r in rejected):
        audit.refused(
            bus, workspace.id, "user_hash", ip=(context_extra or {}).get("ip"), channel=source
        )
    if events:
        await bus.publish_durable_many([subject_and_id(bus, e) for e in events])
    return rejected

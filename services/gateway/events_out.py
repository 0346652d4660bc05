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

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import nats.errors

from services.gateway.identity_tokens import Proven, prove
from shared import audit, clock
from shared.bus import Bus
from shared.errors import BusError, PermanentError
from shared.events import EARLIEST_EVENT, IngestEvent, parse_time
from shared.identifiers import illegal_id_reason
from shared.identity_token import JwksCache
from shared.schema import convert
from shared.schema.segment import (
    FIELD_CODES,
    TYPES,
    WIDGET_TYPES,
    Message,
    Refused,
    WidgetMessage,
)
from shared.storable import check_storable
from shared.suppressions import SuppressionBook
from shared.workspaces import Workspace

MAX_MESSAGE_BYTES = 32 * 1024
MAX_FUTURE = timedelta(hours=1)
# What a failed publish raises: NATS unreachable, JetStream did not ack in time, no responders.
# Only these mean "retry"; anything else is a bug, never answered as an outage.
BUS_FAILURES = (BusError, nats.errors.Error, TimeoutError, ConnectionError)
_ENCODER = msgspec.json.Encoder()


def _id(value: str | int | float | None) -> str | None:
    """Segment ids: strings, numbers stringified (the official clients do it), null allowed.

    Whether the id is usable (not a placeholder, not too long) is IngestEvent's rule.
    """
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):  # finite: check_storable refused NaN and Infinity
        return str(int(value)) if value.is_integer() else str(value)
    return value


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


@functools.lru_cache(maxsize=16)
def _received_iso(received: datetime) -> str:
    """A batch's messages share one receipt time: formatted once, not per message."""
    return clock.iso(received)


def event_time(raw_time: Any, sent_at: Any, received: datetime) -> str:
    """Segment's clock-skew correction; never in the future, never before 2000."""
    if raw_time is None:
        return _received_iso(received)
    original = parse_time(raw_time)
    if original is None:
        raise PermanentError("timestamp is not an ISO-8601 time", code="bad_timestamp")
    moment = _skew_corrected(original, parse_time(sent_at), received)
    if moment > received + MAX_FUTURE:
        moment = received
    return clock.iso(moment)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def user_hash_of(raw: dict[str, Any]) -> str | None:
    context, integrations = _object(raw.get("context")), _object(raw.get("integrations"))
    ours = _object(integrations.get("Parley"))
    for source in (context, ours):
        for key in ("user_hash", "userHash"):
            if isinstance(found := source.get(key), str):
                return found
    return None


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
    size = len(_ENCODER.encode(raw))
    if size > MAX_MESSAGE_BYTES:
        raise PermanentError(f"message is {size} bytes, over 32 KB", code="too_large")
    return raw


def _typed(raw: dict[str, Any], kind: str | None, source: str) -> Message:
    """Phase 2: the message read as its schema (shared/schema/segment.py), the type set."""
    shape = WidgetMessage if source == "widget" else Message
    message = convert(raw, shape, FIELD_CODES)
    if kind is not None:
        message = msgspec.structs.replace(message, type=kind)
    if message.type is None:
        allowed = WIDGET_TYPES if source == "widget" else TYPES
        raise PermanentError(f"type must be one of {', '.join(allowed)}", code="bad_type")
    return message


def _payload_of(
    message: Message,
    batch_context: dict[str, Any] | None,
    context_extra: dict[str, Any] | None,
) -> _Payload:
    """Phase 3: the event name, traits, properties and context, per type."""
    kind = message.type
    context = message.context or {}  # the message's own objects, copied only when changed
    if batch_context or context_extra:
        context = {**(batch_context or {}), **context, **(context_extra or {})}
    properties = message.properties or {}
    if kind in ("page", "screen", "group"):
        properties = dict(properties)
    event = message.event
    if kind in ("page", "screen"):
        name = message.name
        event = name if isinstance(name, str) and name.strip() else None
        for key in ("name", "category"):
            if isinstance(value := getattr(message, key), str):
                properties.setdefault(key, value)
    if kind == "group":
        group_id = _id(message.group)
        if not group_id:
            raise PermanentError("group needs a groupId", code="missing_id")
        if reason := illegal_id_reason(group_id):
            raise PermanentError(f"groupId {reason}", code="illegal_id")
        properties["group_id"] = group_id
    name = event.strip()[:200] if isinstance(event, str) and event.strip() else None
    return _Payload(name, _traits_of(message), properties, context)


def _traits_of(message: Message) -> dict[str, Any]:
    """An identify's traits: the root `traits` over `context.traits` (RudderStack's SDKs
    send them only there; analytics.js may send both). Other types keep their own:
    a group's traits are the company's, not the person's."""
    root = message.traits or {}
    if message.type != "identify":
        return root
    nested = (message.context or {}).get("traits")
    if not isinstance(nested, dict) or not nested:
        return root
    return {**nested, **root}


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
    proven_user: str | None = None,
) -> IngestEvent:
    """One Segment message as an IngestEvent; PermanentError says why it cannot be.

    The Segment-specific work is here (names, numeric ids, skew correction, trust);
    what every event must be is checked once, by IngestEvent itself.
    """
    message = _typed(_checked_shape(raw, batch_context), kind, source)
    payload = _payload_of(message, batch_context, context_extra)
    received = received or datetime.now(UTC)
    user_id = _id(message.user)
    return IngestEvent(
        workspace_id=workspace.id,
        kind=message.type,  # type: ignore[arg-type]
        message_id=_message_id(message.message),
        timestamp=event_time(message.time, sent_at, received),
        received_at=_received_iso(received),
        source=source,  # type: ignore[arg-type]
        trusted=_trust(workspace, trusted, message.type, user_id, raw, proven_user),  # type: ignore[arg-type]
        anonymous_id=_id(message.anonymous),
        user_id=user_id,
        previous_id=_id(message.previous),
        event=payload.event,
        email=getattr(message, "email", None) if message.type == "email" else None,
        traits=payload.traits,
        properties=payload.properties,
        context=payload.context,
    )


def _message_id(given: str | None) -> str:
    """The client's id (trimmed), or a new one: IngestEvent checks what is left."""
    return f"gen-{uuid.uuid4()}" if given is None else given.strip()


def _trust(
    ws: Workspace,
    channel_trusted: bool,
    kind: str,
    user_id: str | None,
    raw: dict,
    proven_user: str | None = None,
) -> bool:
    if channel_trusted or not ws.enforce_identity_verification:
        return True
    named = user_id or (raw.get("userId") if kind == "alias" else None)
    if named and proven_user == named:  # an identity token (services/gateway/identity_tokens.py)
        return True
    if named and ws.verify_user_hash(named, user_hash_of(raw)):
        return True
    if kind in ("identify", "alias") and named:
        raise PermanentError(
            "identity verification is required: give a valid user_hash",
            code="verification_required",
        )
    return False


def subject_and_id(bus: Bus, event: IngestEvent) -> tuple[str, IngestEvent, str]:
    return (
        bus.subjects.events(event.workspace_id, event.kind),
        event,  # encoded straight from the struct (shared.bus.encode)
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
    jwks: JwksCache | None = None,
    suppressions: SuppressionBook | None = None,
) -> list[Refused]:
    """Validate, normalise and durably publish; returns the messages refused (with why).

    A message naming an id of a person deleted with suppression (`suppressions`,
    shared/suppressions.py) is dropped: counted there, neither published nor refused,
    so the client sees a success as Segment's API answers it.

    Valid messages are published even when others are refused; the caller decides
    how to report the refusals. Returns after JetStream acked every published one
    (raises if any publish failed: the caller answers 5xx and the client retries,
    which the message ids make safe).
    """
    received = datetime.now(UTC)
    events: list[IngestEvent] = []
    rejected: list[Refused] = []
    for index, raw in enumerate(raw_messages):
        try:
            proven = await prove(workspace, raw, jwks) if jwks is not None else Proven(raw, None)
            event = normalise(
                proven.raw,
                workspace,
                source=source,
                trusted=trusted,
                context_extra=context_extra,
                batch_context=batch_context,
                sent_at=sent_at,
                received=received,
                proven_user=proven.identity.user_id if proven.identity else None,
            )
        except PermanentError as exc:
            rejected.append(Refused(index, exc.code, str(exc)))
            continue
        named = (event.user_id, event.anonymous_id, event.previous_id)
        if suppressions is None or suppressions.dropping(workspace.id, named) is None:
            events.append(event)
    ip = (context_extra or {}).get("ip")
    if any(r.code == "verification_required" for r in rejected):
        audit.refused(bus, workspace.id, "user_hash", ip=ip, channel=source)
    if any(r.code == "invalid_identity_token" for r in rejected):
        audit.refused(bus, workspace.id, "identity_token", ip=ip, channel=source)
    if events:
        await bus.publish_durable_many([subject_and_id(bus, e) for e in events])
    return rejected

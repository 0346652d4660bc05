"""Segment messages to `IngestEvent`s on the durable events stream: shared by every edge.

The ingest API (`/v1/batch`, `/v1/identify`...) and the widget socket both call
`publish_events`. Trust (docs/identity.md, "Who is trusted"):
- `trusted=True` for a server call (secret key, or the write key without an
  `Origin` header): every message is trusted;
- `trusted=False` for a browser (widget socket, or the write key with an
  `Origin`): if the workspace does not enforce identity verification, every
  message is trusted as Segment would; if it does, a message naming a `userId`
  is trusted only with a valid `user_hash` (HMAC-SHA256 of the user id with the
  workspace's identity secret) in `context.user_hash`/`context.userHash` or
  `integrations.Parley.user_hash`; an identify or alias without one is refused
  (`verification_required`), any other message goes on untrusted, so identity
  files it under its anonymous id only.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import audit
from shared.bus import Bus
from shared.errors import PermanentError
from shared.events import IngestEvent, parse_time
from shared.identifiers import illegal_id_reason
from shared.security import verify_user_hash
from shared.workspaces import Workspace

MAX_MESSAGE_BYTES = 32 * 1024
MAX_FUTURE = timedelta(hours=1)
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
    if isinstance(value, bool):
        raise PermanentError(f"{name} must be a string", code="illegal_id")
    if isinstance(value, int | float):
        value = str(int(value)) if float(value).is_integer() else str(value)
    if not isinstance(value, str):
        raise PermanentError(f"{name} must be a string", code="illegal_id")
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


def event_time(raw_time: Any, sent_at: Any, received: datetime) -> str:
    """Segment's clock-skew correction: receivedAt - (sentAt - timestamp); never in the future."""
    original = parse_time(raw_time) if raw_time is not None else None
    if raw_time is not None and original is None:
        raise PermanentError("timestamp is not ISO-8601", code="bad_timestamp")
    if original is None:
        return _iso(received)
    sent = parse_time(sent_at)
    moment = received - (sent - original) if sent else original
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
    if not isinstance(raw, dict):
        raise PermanentError("a message must be a JSON object", code="bad_type")
    size = len(json.dumps(raw, separators=(",", ":"), default=str).encode())
    if size > MAX_MESSAGE_BYTES:
        raise PermanentError(f"message is {size} bytes, over 32 KB", code="too_large")
    kind = kind or raw.get("type")
    allowed = WIDGET_TYPES if source == "widget" else TYPES
    if kind not in allowed:
        raise PermanentError(f"type must be one of {', '.join(allowed)}", code="bad_type")
    received = received or datetime.now(UTC)
    user_id = _id(raw.get("userId", raw.get("user_id")), "userId")
    anonymous_id = _id(raw.get("anonymousId", raw.get("anonymous_id")), "anonymousId")
    previous_id = _id(raw.get("previousId", raw.get("previous_id")), "previousId")
    if not (user_id or anonymous_id):
        raise PermanentError("userId or anonymousId is required", code="no_user_anon_id")
    message_id = raw.get("messageId") or raw.get("message_id")
    if message_id is None:
        message_id = f"gen-{uuid.uuid4()}"
    if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > 200:
        raise PermanentError("messageId must be a string under 200 characters", code="bad_id")
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
    if kind == "alias" and not (user_id and previous_id):
        raise PermanentError("alias needs userId and previousId", code="missing_id")
    is_trusted = _trust(workspace, trusted, kind, user_id, raw)
    return IngestEvent(
        workspace_id=workspace.id,
        kind=kind,
        message_id=message_id.strip(),
        timestamp=event_time(
            raw.get("timestamp") or raw.get("originalTimestamp"), sent_at, received
        ),
        received_at=_iso(received),
        source=source,
        trusted=is_trusted,
        anonymous_id=anonymous_id,
        user_id=user_id,
        previous_id=previous_id,
        event=event.strip()[:200] if isinstance(event, str) else None,
        email=raw.get("email") if kind == "email" else None,
        traits=traits,
        properties=properties,
        context=context,
    )


def _trust(ws: Workspace, channel_trusted: bool, kind: str, user_id: str | None, raw: dict) -> bool:
    if channel_trusted or not ws.enforce_identity_verification:
        return True
    named = user_id or (raw.get("userId") if kind == "alias" else None)
    if named and verify_user_hash(ws.identity_secret, named, user_hash_of(raw)):
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

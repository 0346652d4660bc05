"""Shapes that leave the chat service (MESSAGE, SUMMARY) and checks on what enters it.

Everything here is pure: documents in, JSON-ready dicts out; payloads in,
validated values out or a `PermanentError` (code `invalid`) that says why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.clock import iso
from shared.errors import PermanentError
from shared.events import parse_time
from shared.identifiers import illegal_id_reason

STATUSES = ("open", "pending", "snoozed", "resolved")
PRIORITIES = ("none", "low", "medium", "high", "urgent")
VIEWS = ("mine", "unassigned", "all")
MAX_TEXT = 10_000
PREVIEW = 200
MAX_NAME = 200
MAX_URL = 2_000


def message_out(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "conversation_id": doc["conversation_id"],
        "seq": doc["seq"],
        "client_msg_id": doc["client_msg_id"],
        "author": doc["author"],
        "text": doc["text"],
        "created_at": iso(doc["created_at"]),
        "internal": bool(doc.get("internal")),
    }


def summary_out(doc: dict[str, Any], unread: int | None) -> dict[str, Any]:
    last = doc.get("last_message")
    return {
        "id": doc["_id"],
        "workspace_id": doc["workspace_id"],
        "visitor_id": doc["visitor_id"],
        "distinct_id": doc.get("distinct_id"),
        "profile_id": doc.get("profile_id"),
        "email": doc.get("email"),
        "status": doc["status"],
        "priority": doc.get("priority", "none"),
        "assignee_id": doc.get("assignee_id"),
        "snoozed_until": iso(doc.get("snoozed_until")),
        "last_message": None
        if not last
        else {
            "text": last["text"],
            "author_kind": last["author_kind"],
            "created_at": iso(last["created_at"]),
            "seq": last["seq"],
            "internal": bool(last.get("internal")),
        },
        "last_seq": doc.get("last_seq", 0),
        "last_activity_at": iso(doc["last_activity_at"]),
        "unread": unread,
        "visitor_read_seq": doc.get("visitor_read_seq", 0),
        "created_at": iso(doc["created_at"]),
        "updated_at": iso(doc["updated_at"]),
    }


# --- input checks ---------------------------------------------------------------------
def invalid(message: str) -> PermanentError:
    return PermanentError(message, code="invalid")


def req_id(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if (reason := illegal_id_reason(value)) is not None:
        raise invalid(f"{name} {reason}")
    return value.strip()  # type: ignore[union-attr]


def opt_id(payload: dict[str, Any], name: str) -> str | None:
    return None if payload.get(name) is None else req_id(payload, name)


def req_text(payload: dict[str, Any], name: str = "text", max_len: int = MAX_TEXT) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{name} must be a non-empty string")
    if len(value) > max_len:
        raise invalid(f"{name} is longer than {max_len} characters")
    return value


def opt_int(payload: dict[str, Any], name: str, minimum: int = 0) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid(f"{name} must be an integer >= {minimum}")
    return value


def limit_of(payload: dict[str, Any], default: int, maximum: int) -> int:
    value = opt_int(payload, "limit", minimum=1)
    return default if value is None else min(value, maximum)


def choice(payload: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = payload.get(name)
    if value is None:
        return None
    if value not in allowed:
        raise invalid(f"{name} must be one of {', '.join(allowed)}")
    return value


def opt_time(payload: dict[str, Any], name: str) -> datetime | None:
    value = payload.get(name)
    if value is None:
        return None
    parsed = parse_time(value)
    if parsed is None:
        raise invalid(f"{name} must be an ISO-8601 time")
    return parsed


def person(raw: Any, kind: str) -> dict[str, Any]:
    """An agent's `{id, name, avatar}` as stored in a message's author."""
    if not isinstance(raw, dict):
        raise invalid("agent must be an object {id, name, avatar}")
    name = raw.get("name") or ""
    avatar = raw.get("avatar") or None
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise invalid("agent.name must be a string of at most 200 characters")
    if avatar is not None and (not isinstance(avatar, str) or len(avatar) > MAX_URL):
        raise invalid("agent.avatar must be a URL string")
    return {"kind": kind, "id": req_id(raw, "id"), "name": name, "avatar": avatar}

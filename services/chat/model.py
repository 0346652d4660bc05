"""Shapes that leave the chat service (MESSAGE, SUMMARY: shared/schema/chat_replies.py)
and checks on what enters it.

Everything here is pure: documents in, JSON-ready dicts out; payloads in,
validated values out or a `PermanentError` (code `invalid`) that says why.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared.clock import iso
from shared.errors import PermanentError
from shared.identifiers import illegal_id_reason
from shared.schema import builtins
from shared.schema.chat_replies import ConversationSummary, LastMessage, Message, Rating
from shared.schema.chat_requests import Agent

PREVIEW = 200


def message_out(doc: dict[str, Any]) -> dict[str, Any]:
    built: dict[str, Any] = builtins(message_of(doc))
    return built


def message_of(doc: dict[str, Any]) -> Message:
    return Message(
        id=doc["_id"],
        conversation_id=doc["conversation_id"],
        seq=doc["seq"],
        client_msg_id=doc["client_msg_id"],
        author=doc["author"],
        text=doc["text"],
        created_at=iso(doc["created_at"]),
        internal=bool(doc.get("internal")),
        via=doc.get("via"),
        kind=doc.get("kind"),
        activity=doc.get("activity"),
    )


def _last_message(last: dict[str, Any] | None) -> LastMessage | None:
    if not last:
        return None
    return LastMessage(
        text=last["text"],
        author_kind=last["author_kind"],
        created_at=iso(last["created_at"]),
        seq=last["seq"],
        internal=bool(last.get("internal")),
    )


def summary_out(doc: dict[str, Any], unread: int | None) -> dict[str, Any]:
    built: dict[str, Any] = builtins(summary_of(doc, unread))
    return built


def summary_of(doc: dict[str, Any], unread: int | None) -> ConversationSummary:
    return ConversationSummary(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        visitor_id=doc["visitor_id"],
        distinct_id=doc.get("distinct_id"),
        profile_id=doc.get("profile_id"),
        email=doc.get("email"),
        status=doc["status"],
        priority=doc.get("priority", "none"),
        assignee_id=doc.get("assignee_id"),
        snoozed_until=iso(doc.get("snoozed_until")),
        last_message=_last_message(doc.get("last_message")),
        last_seq=doc.get("last_seq", 0),
        last_activity_at=iso(doc["last_activity_at"]),
        unread=unread,
        visitor_read_seq=doc.get("visitor_read_seq", 0),
        created_at=iso(doc["created_at"]),
        updated_at=iso(doc["updated_at"]),
        labels=[str(label) for label in doc.get("labels") or ()],
        merged_into=doc.get("merged_into"),
        rating=rating_of(doc.get("rating")),
    )


def rating_of(raw: Any) -> Rating | None:
    """The stored `rating: {score, comment, at}` as RATING (None: not rated)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("score"), int):
        return None
    return Rating(score=raw["score"], comment=str(raw.get("comment") or ""), at=iso(raw.get("at")))


# --- input checks ---------------------------------------------------------------------
def invalid(message: str) -> PermanentError:
    return PermanentError(message, code="invalid")


def req_id(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if (reason := illegal_id_reason(value)) is not None:
        raise invalid(f"{name} {reason}")
    return value.strip()  # type: ignore[union-attr]


def opt_int(payload: dict[str, Any], name: str, minimum: int = 0) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid(f"{name} must be an integer >= {minimum}")
    return value


def person(raw: Any, kind: str) -> dict[str, Any]:
    """An agent's `{id, name, avatar}` as stored in a message's author."""
    if not isinstance(raw, dict):
        raise invalid("agent must be an object {id, name, avatar}")
    try:
        agent = msgspec.convert(raw, Agent)
        agent.check()
    except (msgspec.ValidationError, ValueError) as exc:
        raise invalid(f"agent: {exc}") from exc
    return agent.author(kind)

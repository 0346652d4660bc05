"""Which webhook event each durable fact is: its topic, its envelope and a stable id.

Chat's facts (`P.chat.fact.<kind>`, services/chat/facts.py) and identity's
(`P.identity.fact.<kind>`, services/identity/processor.py) arrive here; a fact delivered
twice gives the same event id, so the outbox (keyed by event and endpoint) keeps one
delivery. `person.deleted` is not in TOPICS: nothing emits it yet (docs/webhooks.md)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from shared import clock
from shared.schema.webhooks import TOPICS

__all__ = ["TOPICS", "Event", "from_chat", "from_identity"]


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    workspace_id: str
    data: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "created_at": clock.iso_now(),
            "workspace_id": self.workspace_id,
            "data": self.data,
        }


def _event_id(key: str) -> str:
    return "evt_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _conversation(fact: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": fact["conversation_id"],
        "visitor_id": fact.get("visitor_id"),
        "profile_id": fact.get("profile_id"),
        "assignee_id": fact.get("assignee_id"),
    }


def _message(fact: dict[str, Any], sender: str) -> tuple[str, dict[str, Any]]:
    message = fact["message"]
    if sender == "visitor" and message.get("via") == "email":
        sender = "email"
    data = {
        "conversation": _conversation(fact),
        "message": {
            "id": message["id"],
            "seq": message["seq"],
            "text": message["text"],
            "author": message.get("author"),
            "created_at": message.get("created_at"),
        },
        "sender": sender,  # visitor, agent or email (a visitor's reply by email)
    }
    return f"message:{message['id']}", data


def from_chat(fact: dict[str, Any]) -> Event | None:
    kind, ws = fact.get("kind"), fact["workspace_id"]
    if kind in ("visitor_message", "agent_message"):
        key, data = _message(fact, "visitor" if kind == "visitor_message" else "agent")
        return Event(_event_id(key), "message.created", ws, data)
    if kind == "conversation_created":
        data = {"conversation": _conversation(fact)}
        return Event(
            _event_id(f"created:{fact['conversation_id']}"), "conversation.created", ws, data
        )
    if kind == "status_changed":
        data = {
            "conversation": _conversation(fact),
            "status": fact["status"],
            "previous_status": fact.get("previous_status"),
        }
        return Event(
            _event_id(f"status:{fact['change_id']}"), "conversation.status_changed", ws, data
        )
    if kind == "assigned":
        data = {
            "conversation": _conversation(fact),
            "assignee_id": fact.get("assignee_id"),
            "previous_assignee_id": fact.get("previous_assignee_id"),
        }
        return Event(_event_id(f"assigned:{fact['change_id']}"), "conversation.assigned", ws, data)
    if kind == "rated":
        rating = fact["rating"]
        data = {"conversation": _conversation(fact), "rating": rating}
        key = f"rated:{fact['conversation_id']}:{rating.get('at')}"
        return Event(_event_id(key), "conversation.rated", ws, data)
    return None  # seen, agent_read: not webhook events


def from_identity(fact: dict[str, Any]) -> Event | None:
    """`promoted` carries a stage, `merged` a survivor (shared/events.py, ProfileMerged),
    `person_deleted` every id of the erased person (services/identity/rights.py),
    `person_unmerged` the undone merge and who undid it (services/identity/unmerge.py)."""
    ws = fact["workspace_id"]
    if fact.get("kind") == "person_unmerged":
        fields = ("profile_id", "survivor_id", "merge_id", "distinct_ids", "unmerged_at", "actor")
        data = {k: fact.get(k) for k in fields}
        key = f"unmerged:{ws}:{fact.get('merge_id')}"
        return Event(_event_id(key), "person.unmerged", ws, data)
    if fact.get("kind") == "person_deleted":
        names = ("profile_id", "person_ids", "distinct_ids", "user_ids", "deleted_at")
        data = {k: fact.get(k) for k in names}
        return Event(_event_id(f"deleted:{ws}:{fact['profile_id']}"), "person.deleted", ws, data)
    if "stage" in fact and "profile_id" in fact:
        data = {"profile_id": fact["profile_id"], "stage": fact["stage"]}
        key = f"promoted:{ws}:{fact['profile_id']}:{fact['stage']}"
        return Event(_event_id(key), "person.promoted", ws, data)
    if "survivor_id" in fact:
        data = {
            "survivor_id": fact["survivor_id"],
            "merged_id": fact["merged_id"],
            "reason": fact.get("reason"),
        }
        return Event(_event_id(f"merged:{ws}:{fact['merged_id']}"), "person.merged", ws, data)
    return None

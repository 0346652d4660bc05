"""Durable facts chat publishes for the mail and webhooks services (`P.chat.fact.<kind>`, JetStream).

- `agent_message`: an agent's reply to the visitor is stored (never an internal note);
- `seen`: the visitor's widget showed the conversation up to `seq` (panel open, page visible);
- `visitor_message`: a visitor's message is stored (for the agents' email notification);
- `agent_read`: an agent read the conversation up to `seq`;
- `conversation_created`: a conversation's first message is stored (services/webhooks);
- `status_changed`, `assigned`: a conversation's status or assignee changed, with the
  previous value and a `change_id` (services/webhooks);
- `rated`: the visitor rated the resolved conversation (CSAT, services/chat/rating.py).

Each carries what mail needs to decide on an email without asking chat again. Published
after the write; a retried request publishes again and JetStream's de-duplication (the
message id) keeps one copy, and mail's handling is idempotent anyway.
"""

from __future__ import annotations

from typing import Any

from shared import clock
from shared.bus import Bus


def _conversation_fields(conversation: dict[str, Any]) -> dict[str, Any]:
    return {
        "assignee_id": conversation.get("assignee_id"),
        "workspace_id": conversation["workspace_id"],
        "conversation_id": conversation["_id"],
        "visitor_id": conversation["visitor_id"],
        "distinct_id": conversation.get("distinct_id"),
        "profile_id": conversation.get("profile_id"),
        "email": conversation.get("email"),
    }


def _message_fact(
    kind: str, message: dict[str, Any], conversation: dict[str, Any]
) -> dict[str, Any]:
    return {
        "kind": kind,
        **_conversation_fields(conversation),
        "message": {
            "id": message["_id"],
            "seq": message["seq"],
            "text": message["text"],
            "author": {k: message["author"].get(k) for k in ("id", "name")},
            "created_at": clock.iso(message["created_at"]),
            "via": message.get("via"),
        },
    }


async def agent_message(bus: Bus, message: dict[str, Any], conversation: dict[str, Any]) -> None:
    if message.get("internal") or message["author"]["kind"] != "agent":
        return
    fact = _message_fact("agent_message", message, conversation)
    await bus.publish_durable(bus.subjects.chat_fact("agent_message"), fact, f"am:{message['_id']}")


async def visitor_messages(bus: Bus, stored: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """(message, conversation) pairs of one inbound batch: the visitor's own, not notes."""
    items = [
        (
            bus.subjects.chat_fact("visitor_message"),
            _message_fact("visitor_message", m, c),
            f"vm:{m['_id']}",
        )
        for m, c in stored
        if m["author"]["kind"] == "visitor" and not m.get("internal")
    ]
    if items:
        await bus.publish_durable_many(items)


async def seen(bus: Bus, conversation: dict[str, Any], seq: int) -> None:
    await _mark(bus, "seen", conversation, seq)


async def agent_read(bus: Bus, conversation: dict[str, Any], seq: int) -> None:
    await _mark(bus, "agent_read", conversation, seq)


async def _mark(bus: Bus, kind: str, conversation: dict[str, Any], seq: int) -> None:
    fact = {"kind": kind, **_conversation_fields(conversation), "seq": seq}
    await bus.publish_durable(
        bus.subjects.chat_fact(kind), fact, f"{kind}:{conversation['_id']}:{seq}"
    )


async def conversations_created(
    bus: Bus, stored: list[tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    """(message, conversation) pairs of one inbound batch: a first message (seq 1) is the
    conversation's birth; a retried batch finds it stored and publishes it again (same id)."""
    born = {c["_id"]: c for m, c in stored if m["seq"] == 1}
    items = [
        (
            bus.subjects.chat_fact("conversation_created"),
            {"kind": "conversation_created", **_conversation_fields(c)},
            f"cc:{cid}",
        )
        for cid, c in born.items()
    ]
    if items:
        await bus.publish_durable_many(items)


async def changed(bus: Bus, before: dict[str, Any], after: dict[str, Any]) -> None:
    """A conversation's status or assignee after a stored change (`updated_at` names it)."""
    change_id = f"{after['_id']}:{clock.iso(after['updated_at'])}"
    for field_name, kind in (("status", "status_changed"), ("assignee_id", "assigned")):
        if before.get(field_name) == after.get(field_name):
            continue
        fact = {
            "kind": kind,
            **_conversation_fields(after),
            "status": after.get("status"),
            f"previous_{field_name}": before.get(field_name),
            "change_id": change_id,
        }
        await bus.publish_durable(bus.subjects.chat_fact(kind), fact, f"{kind}:{change_id}")


async def rated(bus: Bus, conversation: dict[str, Any], rating: dict[str, Any]) -> None:
    """The visitor's rating is stored (a re-rating is a fact of its own)."""
    at = clock.iso(rating["at"])
    fact = {
        "kind": "rated",
        **_conversation_fields(conversation),
        "rating": {"score": rating["score"], "comment": rating["comment"], "at": at},
    }
    await bus.publish_durable(
        bus.subjects.chat_fact("rated"), fact, f"rated:{conversation['_id']}:{at}"
    )

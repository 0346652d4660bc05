"""Durable facts chat publishes for the mail service (`P.chat.fact.<kind>`, JetStream).

- `agent_message`: an agent's reply to the visitor is stored (never an internal note);
- `seen`: the visitor's widget showed the conversation up to `seq` (panel open, page visible);
- `visitor_message`: a visitor's message is stored (for the agents' email notification);
- `agent_read`: an agent read the conversation up to `seq`.

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

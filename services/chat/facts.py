"""Durable facts chat publishes for the mail service (`P.chat.fact.<kind>`, JetStream).

- `agent_message`: an agent's reply to the visitor is stored (never an internal note);
- `seen`: the visitor's widget showed the conversation up to `seq` (panel open, page visible).

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
        "workspace_id": conversation["workspace_id"],
        "conversation_id": conversation["_id"],
        "visitor_id": conversation["visitor_id"],
        "distinct_id": conversation.get("distinct_id"),
        "profile_id": conversation.get("profile_id"),
        "email": conversation.get("email"),
    }


async def agent_message(bus: Bus, message: dict[str, Any], conversation: dict[str, Any]) -> None:
    if message.get("internal") or message["author"]["kind"] != "agent":
        return
    fact = {
        **_conversation_fields(conversation),
        "message": {
            "id": message["_id"],
            "seq": message["seq"],
            "text": message["text"],
            "author": {k: message["author"].get(k) for k in ("id", "name")},
            "created_at": clock.iso(message["created_at"]),
        },
    }
    await bus.publish_durable(bus.subjects.chat_fact("agent_message"), fact, f"am:{message['_id']}")


async def seen(bus: Bus, conversation: dict[str, Any], seq: int) -> None:
    fact = {**_conversation_fields(conversation), "seq": seq}
    await bus.publish_durable(
        bus.subjects.chat_fact("seen"), fact, f"seen:{conversation['_id']}:{seq}"
    )

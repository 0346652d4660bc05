"""The bus side of a visitor's chat, for the socket and browser tests: the agent's
replies (played as the dashboard would send them) and the events the widget sent."""

from __future__ import annotations

import json
from typing import Any

from shared.bus import Bus

AGENT = {"id": "agent-ann", "name": "Ann", "avatar": None}


async def agent_says(bus: Bus, conversation_id: str, text: str, cmid: str) -> dict[str, Any]:
    return await bus.request(
        bus.subjects.request("chat", "agent.send"),
        {
            "workspace_id": "default",
            "conversation_id": conversation_id,
            "agent": AGENT,
            "client_msg_id": cmid,
            "text": text,
            "internal": False,
        },
    )


async def stream_events(bus: Bus, kind: str) -> list[dict[str, Any]]:
    """Every event of `kind` on the events stream so far."""
    assert bus.js is not None
    sub = await bus.js.subscribe(bus.subjects.events("default", kind), ordered_consumer=True)
    found = []
    while True:
        try:
            msg = await sub.next_msg(timeout=0.3)
        except Exception:  # noqa: BLE001 - no more messages
            break
        found.append(json.loads(msg.data))
    await sub.unsubscribe()
    return found

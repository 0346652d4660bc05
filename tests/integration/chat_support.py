"""Helpers for the chat service's tests: play the gateway and the dashboard over the bus."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from shared.bus import Bus
from shared.workspaces import DEFAULT_WORKSPACE_ID
from tests.support import eventually

WS = DEFAULT_WORKSPACE_ID


async def visitor_says(
    bus: Bus,
    visitor_id: str,
    text: str,
    client_msg_id: str | None = None,
    distinct_id: str | None = None,
    msg_id: str | None = None,
) -> str:
    """What the gateway's visitor socket does with a message; returns the client_msg_id."""
    client_msg_id = client_msg_id or "c-" + uuid.uuid4().hex
    payload = {
        "type": "visitor.message",
        "workspace_id": WS,
        "visitor_id": visitor_id,
        "distinct_id": distinct_id or visitor_id,
        "client_msg_id": client_msg_id,
        "text": text,
        "sent_at": "2026-01-01T00:00:00Z",
        "page_url": "https://example.com/pricing",
    }
    await bus.publish_durable(
        bus.subjects.chat_inbound(WS), payload, msg_id or f"{WS}:{visitor_id}:{client_msg_id}"
    )
    return client_msg_id


async def ask(bus: Bus, verb: str, **payload: Any) -> Any:
    return await bus.request(bus.subjects.request("chat", verb), {"workspace_id": WS, **payload})


class Frames:
    """Everything published on one subject, to wait on."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    @classmethod
    async def on(cls, bus: Bus, subject: str) -> Frames:
        frames = cls()

        async def keep(payload: dict[str, Any]) -> None:
            frames.items.append(payload)

        await bus.subscribe(subject, keep)
        assert bus.nc is not None
        await bus.nc.flush()
        return frames

    async def wait_for(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        async def seen() -> bool:
            found[:] = [f for f in self.items if match(f)]
            return bool(found)

        await eventually(seen, timeout=timeout)
        return found[0]

    def matching(self, match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [f for f in self.items if match(f)]


async def conversation_of(bus: Bus, visitor_id: str, messages: int = 1) -> dict[str, Any]:
    """Wait until the visitor's conversation holds `messages` messages; its history."""
    result: dict[str, Any] = {}

    async def stored() -> bool:
        result.update(await ask(bus, "history", visitor_id=visitor_id))
        return len(result["messages"]) >= messages

    await eventually(stored)
    return result

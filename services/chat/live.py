"""Live fan-out after a write is stored: frames to one visitor's sockets and to the agents."""

from __future__ import annotations

from typing import Any

import msgspec

from services.chat.model import message_out, summary_out
from shared.bus import Bus
from shared.schema.chat_replies import Message
from shared.schema.live import VisitorFrame, VisitorMessage, VisitorPresence


class Live:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def to_visitor(self, workspace_id: str, visitor_id: str, frame: VisitorFrame) -> None:
        await self.bus.publish(self.bus.subjects.live_visitor(workspace_id, visitor_id), frame)

    async def to_visitors(self, workspace_id: str, frame: VisitorPresence) -> None:
        """Every open widget of the workspace, on any gateway process."""
        await self.bus.publish(self.bus.subjects.live_visitors(workspace_id), frame)

    async def to_agents(self, workspace_id: str, frame: dict[str, Any]) -> None:
        await self.bus.publish(self.bus.subjects.live_agents(workspace_id), frame)

    async def message(self, message: dict[str, Any], conversation: dict[str, Any]) -> None:
        """The visitor's copy doubles as the sender's ack; internal notes stay with agents."""
        ws = conversation["workspace_id"]
        out = message_out(message)
        if not out["internal"]:
            frame = VisitorMessage(message=msgspec.convert(out, Message))
            await self.to_visitor(ws, conversation["visitor_id"], frame)
        await self.to_agents(
            ws, {"type": "message", "message": out, "conversation": summary_out(conversation, None)}
        )

    async def conversation_updated(self, conversation: dict[str, Any]) -> None:
        await self.to_agents(
            conversation["workspace_id"],
            {"type": "conversation.updated", "conversation": summary_out(conversation, None)},
        )

"""What every part of the mail service shares."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from services.mail.catcher import Catcher
from services.mail.store import MailStore
from services.mail.transport import Transport
from shared.bus import Bus
from shared.settings import MailSettings, Settings


@dataclass
class MailContext:
    bus: Bus
    store: MailStore
    settings: Settings
    transport: Transport
    catcher: Catcher
    workspaces: Any  # shared.workspaces.WorkspaceRegistry
    # set when an email falls due before the duty loop's next tick (a short delay)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def mail(self) -> MailSettings:
        return self.settings.mail

    def workspace_name(self, workspace_id: str) -> str:
        workspace = self.workspaces.get(workspace_id) if self.workspaces else None
        return workspace.name if workspace is not None else "us"

    async def note_to_agents(self, pending: dict[str, Any], key: str, text: str) -> None:
        """An internal note on the conversation (a bounce, a refused attachment), via chat."""
        ws = pending["workspace_id"]
        record = {
            "type": "mail.note",
            "workspace_id": ws,
            "visitor_id": pending["visitor_id"],
            "distinct_id": pending.get("distinct_id") or pending["visitor_id"],
            "client_msg_id": key,
            "text": text,
        }
        subject = self.bus.subjects.chat_inbound(ws)
        await self.bus.publish_durable(subject, record, f"{ws}:mail:{key}")

"""Everything a chat handler needs, built once per app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from services.chat.claims import PendingClaims
from services.chat.live import Live
from services.chat.load import ChatLoad
from services.chat.presence import Presence
from services.chat.profiles import ProfileResolver
from services.chat.store import ChatStore
from shared.bus import Bus
from shared.errors import PermanentError
from shared.workspaces import WorkspaceRegistry

if TYPE_CHECKING:
    from services.chat.agent_sends import AgentSends
    from services.chat.reply_time import ReplyTimes


@dataclass
class ChatContext:
    bus: Bus
    store: ChatStore
    live: Live
    presence: Presence
    resolver: ProfileResolver
    workspaces: WorkspaceRegistry
    load: ChatLoad
    agent_sends: AgentSends = field(init=False)  # set once the context exists
    claims: PendingClaims = field(default_factory=PendingClaims)
    reply_times: ReplyTimes = field(init=False)

    def workspace(self, workspace_id: str):
        ws = self.workspaces.get(workspace_id)
        if ws is None:
            raise PermanentError(f"unknown workspace {workspace_id!r}", code="not_found")
        return ws

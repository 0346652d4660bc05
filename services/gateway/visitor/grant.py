"""A continue link opened at the gateway: the one conversation it grants, or nothing.

The link's token (shared/continuity.py) names a workspace and a conversation. Chat
tells which visitor key that conversation is reached by (one conversation per
visitor id, a unique index), and a socket granted it acts through that key: the
history, the messages it sends and the live frames it gets are that conversation's
and no other's. The key never reaches the browser, no visitor token is minted for
it, and the socket's identity frames (identify, alias, email, track, page) are
refused, so the device that opened the link is never merged into that person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.bus import Bus
from shared.continuity import read_continue_link_token
from shared.errors import BusError
from shared.schema.chat_requests import ContinueOpen

# the chat answers that mean the conversation is not there (any other error is an outage)
GONE = ("not_found", "invalid", "unknown_workspace")


@dataclass(frozen=True)
class GrantedConversation:
    workspace_id: str
    conversation_id: str
    visitor_id: str  # the conversation's socket key: never sent to the browser
    distinct_id: str

    def claims(self) -> dict[str, Any]:
        """What the socket acts as, in the shape of a visitor token's claims (never signed)."""
        return {"vid": self.visitor_id, "did": self.distinct_id}


async def open_grant(
    bus: Bus, keyring: Sequence[str], token: str | None, workspace_id: str | None = None
) -> GrantedConversation | None:
    """The conversation a valid, unexpired link grants (of `workspace_id` when given).

    None for a forged, expired or foreign token, or a conversation that is gone;
    a BusError when chat does not answer (the caller says "try again").
    """
    grant = read_continue_link_token(keyring, token)
    if grant is None or (workspace_id is not None and grant.workspace_id != workspace_id):
        return None
    ask = ContinueOpen(workspace_id=grant.workspace_id, conversation_id=grant.conversation_id)
    try:
        found = await bus.request(bus.subjects.request("chat", "continue.open"), ask, timeout=5)
    except BusError as exc:
        if exc.code in GONE:
            return None
        raise
    return GrantedConversation(
        workspace_id=grant.workspace_id,
        conversation_id=str(found["conversation_id"]),
        visitor_id=str(found["visitor_id"]),
        distinct_id=str(found["distinct_id"]),
    )

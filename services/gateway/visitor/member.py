"""A verified member's conversations on any device: list them, open one, reply in it.

Only a socket whose user id was proven (a `user_hash` or an identity token, on this
socket or when its visitor token got the user id: the token's `vf` claim) may ask.
Knowing a user id or an email proves nothing, so an unverified identify, or an email
typed in the chat, never shows a conversation. Identity tells who the person is (its
profile id and distinct ids, by user id); chat lists that person's conversations; an
opened one is reached through its own visitor key, as a continue link's is
(visitor/grant.py): its history, the messages this socket sends and its live frames
are that conversation's, while identify/track/page still describe this device.
"""

from __future__ import annotations

from typing import Any

from services.gateway.visitor.frames import FrameError, Session, send_history
from services.gateway.visitor.grant import GrantedConversation
from shared.schema.chat_requests import MAX_DISTINCT_IDS, ContinueOpen, ConversationsByProfile
from shared.schema.frames import ConversationsFrame, OpenFrame

LISTED = 20


def _member(s: Session) -> str:
    """The proven user id; FrameError for any other socket."""
    if s.grant is not None or not s.verified or not s.user_id:
        raise FrameError(
            "not_verified", "only a verified member (user_hash or identity token) sees history"
        )
    return s.user_id


async def _person(s: Session, user_id: str) -> tuple[str | None, list[str]]:
    """The person's profile id and distinct ids, by user id (identity's answer)."""
    found = await s.bus.request(
        s.bus.subjects.request("identity", "profile.find"),
        {"workspace_id": s.ws_id, "user_id": user_id},
        timeout=3,
    )
    profiles = found.get("profiles") if isinstance(found, dict) else None
    mine = [p for p in profiles or [] if isinstance(p, dict) and p.get("user_id") == user_id]
    if not mine:
        return None, [user_id]
    person = mine[0]
    ids = [d for d in person.get("distinct_ids") or [] if isinstance(d, str)]
    return str(person["id"]), ids[:MAX_DISTINCT_IDS]


async def conversations_of(s: Session) -> list[dict[str, Any]]:
    """The member's latest conversations (every device's), newest activity first."""
    profile_id, distinct_ids = await _person(s, _member(s))
    ask = ConversationsByProfile(
        workspace_id=s.ws_id, profile_id=profile_id, distinct_ids=distinct_ids, limit=LISTED
    )
    found = await s.chat_request("conversations.by_profile", ask)
    listed = found.get("conversations") if isinstance(found, dict) else None
    return [c for c in listed or [] if isinstance(c, dict)]


def _shown(summary: dict[str, Any], on_screen: str) -> dict[str, Any]:
    """What the browser sees of one: never the visitor key, never an internal note."""
    last = summary.get("last_message") or {}
    preview = None if last.get("internal") else last.get("text")
    return {
        "id": summary["id"],
        "status": summary.get("status"),
        "last_message": preview,
        "last_activity_at": summary.get("last_activity_at"),
        "current": summary.get("visitor_id") == on_screen,
    }


async def on_conversations(s: Session, frame: ConversationsFrame) -> dict[str, Any]:
    on_screen = s.chat_key[0]
    listed = await conversations_of(s)
    return {"type": "conversations", "conversations": [_shown(c, on_screen) for c in listed]}


async def on_open(s: Session, frame: OpenFrame) -> None:
    """Show one of the member's conversations (this device's own one: back to it):
    `opened`, then its history, so the widget clears its screen before it fills it."""
    listed = {c["id"]: c for c in await conversations_of(s)}
    chosen = listed.get(frame.conversation_id)
    if chosen is None:
        raise FrameError("not_found", "no such conversation of yours")
    ask = ContinueOpen(workspace_id=s.ws_id, conversation_id=frame.conversation_id)
    key = await s.bus.request(s.bus.subjects.request("chat", "continue.open"), ask, timeout=5)
    visitor_id = str(key["visitor_id"])
    opened = GrantedConversation(
        s.ws_id, frame.conversation_id, visitor_id, str(key["distinct_id"])
    )
    switch_to(s, None if visitor_id == s.own_key else opened)
    s.conn.send({"type": "opened", "conversation_id": frame.conversation_id})
    await send_history(s, None)


def switch_to(s: Session, opened: GrantedConversation | None) -> None:
    """Put the socket on a conversation's key (None: the device's own), live frames too."""
    s.opened = opened
    if s.hub is not None:
        s.hub.move(s.conn, s.chat_key[0])

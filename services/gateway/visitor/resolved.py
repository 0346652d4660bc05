"""After resolution: the visitor's rating (CSAT) and "start a new conversation".

`rate`: checked here (score an int 1-5, comment at most 1000 characters: the frame's
schema) and sent to chat with the socket's own visitor key, never one the browser names;
chat refuses another visitor's conversation (`not_found`), one not resolved
(`not_resolved`) and a re-rating after its window (`already_rated`): services/chat/rating.py.

`new_conversation`: chat keeps one conversation per visitor key and reopens it when
the visitor writes again, so a new conversation is a new key for this device: `ck` in
the visitor token (the visitor id, the distinct id and so the person stay the same).
Only once this device's conversation is resolved. The socket moves to the new key; the
visitor's other tabs, still on the old one, are told (`new_conversation`) and reconnect
with the token this tab stored.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from services.gateway.visitor.frames import FrameError, Session
from shared.errors import BusError
from shared.schema import read_reply
from shared.schema.chat_replies import History
from shared.schema.chat_requests import ConversationRate, HistoryRequest
from shared.schema.frames import NewConversationFrame, RateFrame
from shared.schema.live import VisitorNewConversation

KEY = re.compile(r"c[0-9a-f]{32}")
# chat's refusals the visitor is told as they are (any other error is an outage)
REFUSALS = ("not_found", "not_resolved", "already_rated", "conflict", "invalid")


async def on_rate(s: Session, frame: RateFrame) -> dict[str, Any]:
    ask = ConversationRate(
        workspace_id=s.ws_id,
        conversation_id=frame.conversation_id,
        visitor_id=s.chat_key[0],
        score=frame.score,
        comment=frame.comment,
    )
    try:
        summary = await s.chat_request("conversation.rate", ask)
    except BusError as exc:
        if exc.code in REFUSALS:
            raise FrameError(exc.code, str(exc)) from exc
        raise
    return {"type": "rated", "conversation_id": summary["id"], "rating": summary["rating"]}


async def on_new_conversation(s: Session, frame: NewConversationFrame) -> None:
    ask = HistoryRequest(workspace_id=s.ws_id, visitor_id=s.own_key, after_seq=None, limit=1)
    now = read_reply(await s.chat_request("history", ask), History)
    if now.conversation_id is not None and now.status != "resolved":
        raise FrameError("not_resolved", "this conversation is still open: write in it")
    old = s.own_key
    if now.conversation_id is not None:  # nothing written yet: the key is new already
        s.conversation_key = "c" + uuid.uuid4().hex
    s.opened = None  # a member back on this device's own (new) conversation
    if s.hub is not None:
        s.hub.move(s.conn, s.own_key)
    # this tab's answer first: it stores the new token, which the other tabs reconnect with
    s.conn.send({"type": "started", "token": s.token()})
    if old != s.own_key:
        subject = s.bus.subjects.live_visitor(s.ws_id, old)
        await s.bus.publish(subject, VisitorNewConversation())
    return None

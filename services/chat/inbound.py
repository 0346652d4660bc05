"""The durable `chat` consumer: visitor messages and email-prompt answers from the gateway.

Store first (idempotent by client_msg_id), then the email event (durable), then
the live frames: a failure anywhere raises, the bus redelivers, and the retry
finds the stored message and finishes the remaining steps.
"""

from __future__ import annotations

import re
from typing import Any

from services.chat.context import ChatContext
from services.chat.email_detect import email_event, email_in
from services.chat.model import req_id, req_text
from services.chat.store import Stored
from shared.errors import PermanentError
from shared.identifiers import normalize_email

CLIENT_MSG_ID = re.compile(r"^[A-Za-z0-9_\-:.]{1,100}$")
SYSTEM = {"kind": "system", "id": None, "name": "Parley", "avatar": None}


def client_msg_id_of(payload: dict[str, Any]) -> str:
    """A sender's own id for a message: any short token (it names no person)."""
    value = payload.get("client_msg_id")
    if not isinstance(value, str) or not CLIENT_MSG_ID.match(value):
        raise PermanentError("client_msg_id must be 1-100 letters, digits, - _ : .", code="invalid")
    return value


async def handle_inbound(ctx: ChatContext, payload: dict[str, Any]) -> Stored:
    kind = payload.get("type")
    if kind not in ("visitor.message", "visitor.email"):
        raise PermanentError(f"unknown inbound type {kind!r}", code="bad_type")
    ws = req_id(payload, "workspace_id")
    ctx.workspace(ws)
    visitor_id = req_id(payload, "visitor_id")
    distinct_id = req_id(payload, "distinct_id")
    client_msg_id = client_msg_id_of(payload)
    if kind == "visitor.message":
        text = req_text(payload, "text")
        email = email_in(text)
        author = {"kind": "visitor", "id": visitor_id, "name": None, "avatar": None}
    else:
        email = normalize_email(payload.get("email"))
        if email is None:
            raise PermanentError("email is not a valid address", code="bad_email")
        text = f"The visitor left their email: {email}"
        author = SYSTEM
    conversation = await ctx.store.visitor_conversation(ws, visitor_id, distinct_id)
    stored = await ctx.store.append(conversation, author, text, client_msg_id, email=email)
    if kind == "visitor.message" and email:
        # the widget's prompt already sent its own event from the gateway
        event = email_event(
            ws, distinct_id, email, stored.message["_id"], stored.message["created_at"]
        )
        await ctx.bus.publish_durable(
            ctx.bus.subjects.events(ws, "email"), event.to_dict(), f"{ws}:{event.message_id}"
        )
    await ctx.live.message(stored.message, stored.conversation)
    ctx.resolver.schedule(stored.conversation)
    return stored

"""CSAT: a visitor rates their resolved conversation (`conversation.rate`, from the gateway).

Stored on the conversation as `rating: {score, comment, at}` (one per conversation), then
told to identity as the track event "Conversation Rated" (so it lands on the person's
timeline, as email_detect.py tells it of an email), to the webhooks service as the
`rated` fact (`conversation.rated`), and to the agents live (`conversation.updated`).

Rules: only the conversation the visitor's own key reaches (`not_found` for any other),
only while it is resolved (`not_resolved`); rating again (a change of mind) replaces
the rating within `RERATE_WINDOW` of the rating it replaces, and is refused after it
(`already_rated`). Nothing but `{score, comment, at}` is stored: Reports read it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.chat import facts
from services.chat.context import ChatContext
from services.chat.model import summary_out
from shared import clock
from shared.errors import PermanentError
from shared.events import IngestEvent
from shared.schema.chat_requests import ConversationRate

RERATE_WINDOW = timedelta(hours=24)
EVENT = "Conversation Rated"


def _refused(message: str, code: str) -> PermanentError:
    return PermanentError(message, code=code)


def _rated_at(rating: Any) -> datetime | None:
    """When the conversation was last rated (None: never)."""
    if not isinstance(rating, dict) or not isinstance(rating.get("at"), datetime):
        return None
    at: datetime = rating["at"]
    return at


def rating_event(conversation: dict[str, Any], rating: dict[str, Any]) -> IngestEvent:
    """The track event identity records on the person behind the conversation."""
    cid = conversation["_id"]
    at = clock.iso(rating["at"]) or clock.iso_now()
    return IngestEvent(
        workspace_id=conversation["workspace_id"],
        kind="track",
        message_id=f"chat-rating:{cid}:{at}",
        timestamp=at,
        received_at=clock.iso_now(),
        source="chat",
        trusted=False,  # the visitor's word, as an email typed in the chat is
        anonymous_id=conversation.get("distinct_id") or conversation["visitor_id"],
        event=EVENT,
        properties={
            "conversation_id": cid,
            "score": rating["score"],
            "comment": rating["comment"],
        },
    )


async def _check(ctx: ChatContext, p: ConversationRate) -> dict[str, Any]:
    """The visitor's own resolved conversation, still open to a rating."""
    conversation = await ctx.store.by_visitor(p.workspace_id, p.visitor_id)
    if conversation is None or conversation["_id"] != p.conversation_id:
        raise _refused("conversation not found", "not_found")
    if conversation["status"] != "resolved":
        raise _refused("only a resolved conversation can be rated", "not_resolved")
    rated_at = _rated_at(conversation.get("rating"))
    if rated_at is not None and clock.now() - rated_at > RERATE_WINDOW:
        raise _refused("this conversation was rated already", "already_rated")
    return conversation


async def conversation_rate(ctx: ChatContext, p: ConversationRate) -> dict[str, Any]:
    ws = p.workspace_id
    ctx.workspace(ws)
    conversation = await _check(ctx, p)
    before = conversation.get("rating")
    now = clock.now()
    rating = {"score": p.score, "comment": p.comment.strip(), "at": now}
    # compare-and-set: still resolved, still the rating we read (none: `rating.at` null)
    guard = {"visitor_id": p.visitor_id, "status": "resolved", "rating.at": _rated_at(before)}
    after = await ctx.store.set_fields(ws, conversation["_id"], {"rating": rating}, guard)
    if after is None:
        raise _refused("the conversation changed meanwhile: try again", "conflict")
    event = rating_event(after, rating)
    await ctx.bus.publish_durable(
        ctx.bus.subjects.events(ws, "track"), event.to_dict(), f"{ws}:{event.message_id}"
    )
    await facts.rated(ctx.bus, after, rating)
    await ctx.live.conversation_updated(after)
    return summary_out(after, None)

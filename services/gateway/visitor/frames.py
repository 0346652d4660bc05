"""What each frame from the widget does, once the socket has said hello.

Every id that decides whose data is touched (workspace, visitor_id, distinct_id,
user_id) comes from the signed visitor token, never from the frame. Each handler
returns the frame to answer with; a `FrameError` becomes an `error` frame.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

import msgspec

from services.gateway.events_out import BUS_FAILURES, publish_events
from services.gateway.visitor.grant import GrantedConversation
from services.gateway.visitor.hub import VisitorConn, VisitorHub
from services.gateway.visitor.limits import Limits
from shared import clock
from shared.bus import Bus
from shared.errors import PermanentError
from shared.identifiers import normalize_email
from shared.identity_token import JwksCache, TokenRefused, VerifiedIdentity, verify_identity_token
from shared.schema import builtins, read_reply
from shared.schema.chat_inbound import InboundRecord, VisitorEmail, VisitorMessage
from shared.schema.chat_replies import History
from shared.schema.chat_requests import ChatRequest, HistoryRequest, PresenceRequest
from shared.schema.frames import (
    MAX_NAME,
    MAX_URL,
    AliasFrame,
    EmailFrame,
    FrameRefused,
    IdentifyFrame,
    MessageFrame,
    PageFrame,
    PingFrame,
    ReadFrame,
    ResyncFrame,
    TrackFrame,
    TypingFrame,
    read_frame,
)
from shared.schema.live import ReadSignal, TypingSignal
from shared.security import sign_token
from shared.suppressions import SuppressionBook
from shared.workspaces import Workspace

HISTORY_PAGES = 10


class FrameError(Exception):
    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


@dataclass
class Session:
    """One socket after hello: who it is (from the token) and what it last saw."""

    bus: Bus
    workspace: Workspace
    conn: VisitorConn
    token_secret: str
    limits: Limits
    visitor_id: str
    distinct_id: str
    user_id: str | None
    context: dict[str, Any] = field(default_factory=dict)
    # opened by a continue link: this one conversation only (services/gateway/visitor/grant.py)
    grant: GrantedConversation | None = None
    jwks: JwksCache = field(default_factory=JwksCache)
    hub: VisitorHub | None = None
    # a verified member's other conversation, opened from the list (visitor/member.py)
    opened: GrantedConversation | None = None
    # this device's conversation key when the visitor started a new conversation after
    # resolution (the token's `ck`, visitor/resolved.py); None: the visitor id itself
    conversation_key: str | None = None
    # until when the user id is proven (a user_hash: math.inf; an identity token: its exp),
    # on this socket or the one that got the visitor token; None: never proven
    verified_until: float | None = None
    # ids of persons deleted with suppression: their events are dropped (shared/suppressions.py)
    suppressions: SuppressionBook | None = None

    @property
    def ws_id(self) -> str:
        return self.workspace.id

    @property
    def verified(self) -> bool:
        return self.verified_until is not None and self.verified_until > time.time()

    @property
    def own_key(self) -> str:
        """The visitor key chat knows this device's own conversation by."""
        return self.conversation_key or self.visitor_id

    @property
    def chat_key(self) -> tuple[str, str]:
        """(visitor key, distinct id) chat knows the conversation on screen by."""
        if self.opened is not None:
            return self.opened.visitor_id, self.opened.distinct_id
        return self.own_key, self.distinct_id

    def token(self) -> str:
        claims: dict[str, Any] = {"ws": self.ws_id, "vid": self.visitor_id, "did": self.distinct_id}
        if self.conversation_key:
            claims["ck"] = self.conversation_key
        if self.user_id:
            claims["uid"] = self.user_id
            if self.verified and self.verified_until is not None:
                # 1: no end (a user_hash); else the identity token's exp
                claims["vf"] = 1 if math.isinf(self.verified_until) else int(self.verified_until)
        return sign_token(self.token_secret, claims, ttl_seconds=self.limits.token_ttl_days * 86400)

    async def publish(self, kind: str, mid: str, **fields: Any) -> None:
        """A Segment-shaped message through the ingest path every edge shares.

        Trusted: this socket already checked any user_hash itself (`_verified`), and
        a user id from the token was verified when the token got it, so no hash is
        copied into the stored event.
        """
        raw = {
            "type": kind,
            "messageId": f"w:{self.visitor_id}:{mid}",
            "anonymousId": self.distinct_id,
            "userId": self.user_id,
            **fields,
        }
        rejected = await publish_events(
            self.bus,
            self.workspace,
            [raw],
            source="widget",
            trusted=True,
            context_extra=self.context,
            suppressions=self.suppressions,
        )
        if rejected:
            raise FrameError("invalid", rejected[0].message)

    async def chat_request(self, verb: str, payload: ChatRequest) -> Any:
        """Ask chat; the payload is the verb's Struct (shared/schema/chat_requests.py)."""
        return await self.bus.request(self.bus.subjects.request("chat", verb), payload, timeout=5)


def _text(value: str, name: str, limit: int) -> str:
    """A length that is a setting (the schema holds the fixed ones)."""
    if len(value) > limit:
        raise FrameError("too_large", f"{name} is longer than {limit} characters")
    return value


def page_of(frame: dict[str, Any]) -> dict[str, str]:
    page = {}
    for name in ("url", "title", "referrer", "path"):
        value = frame.get(name)
        if isinstance(value, str) and value:
            page[name] = value[: MAX_NAME if name == "title" else MAX_URL]
    return page


# --- chat ------------------------------------------------------------------------------
async def on_message(s: Session, frame: MessageFrame) -> dict[str, Any]:
    text = _text(frame.text, "text", s.limits.max_text_chars)
    page_url = s.context.get("page", {}).get("url")
    # a continue link's socket may post in the conversation, not change the person:
    # chat reads no email out of what it sends
    scoped = s.grant is not None or s.opened is not None
    scope: Literal["conversation"] | None = "conversation" if scoped else None
    record = VisitorMessage(
        **_sender(s, frame.client_msg_id), text=text, page_url=page_url, scope=scope
    )
    return await _to_chat(s, record)


async def on_email(s: Session, frame: EmailFrame) -> dict[str, Any]:
    email = normalize_email(frame.email)
    if email is None:
        raise FrameError("bad_email", "that does not look like an email address")
    await s.publish("email", frame.client_msg_id, email=email)
    return await _to_chat(s, VisitorEmail(**_sender(s, frame.client_msg_id), email=email))


class Sender(TypedDict):
    """Who wrote and when, as every P.chat.inbound record carries it."""

    workspace_id: str
    visitor_id: str
    distinct_id: str
    client_msg_id: str
    sent_at: str


def _sender(s: Session, client_msg_id: str) -> Sender:
    visitor_id, distinct_id = s.chat_key
    return {
        "workspace_id": s.ws_id,
        "visitor_id": visitor_id,
        "distinct_id": distinct_id,
        "client_msg_id": client_msg_id,
        "sent_at": clock.iso_now(),
    }


async def _to_chat(s: Session, record: InboundRecord) -> dict[str, Any]:
    """The record on the visitor's workspace's inbound stream (once per client id); the ack."""
    cmid = record.client_msg_id
    subject, msg_id = s.bus.subjects.chat_inbound(s.ws_id), f"{s.ws_id}:{record.visitor_id}:{cmid}"
    await s.bus.publish_durable(subject, record, msg_id)
    return {"type": "accepted", "ref": cmid}


async def on_typing(s: Session, frame: TypingFrame) -> None:
    signal = TypingSignal(
        workspace_id=s.ws_id, visitor_id=s.chat_key[0], typing=frame.typing is True
    )
    await s.bus.publish(s.bus.subjects.request("chat", "visitor.signal"), signal)


async def on_read(s: Session, frame: ReadFrame) -> None:
    signal = ReadSignal(workspace_id=s.ws_id, visitor_id=s.chat_key[0], seq=frame.seq)
    await s.bus.publish(s.bus.subjects.request("chat", "visitor.signal"), signal)


async def send_history(s: Session, after_seq: int | None) -> str | None:
    """The latest messages (no `after_seq`) or every message after it, page by page;
    returns the address the conversation's replies are emailed to (None: none given)."""
    history = History()
    for _ in range(HISTORY_PAGES):
        payload = HistoryRequest(
            workspace_id=s.ws_id,
            visitor_id=s.chat_key[0],
            after_seq=after_seq,
            limit=50 if after_seq is None else 100,
        )
        history = read_reply(await s.chat_request("history", payload), History)
        messages = [m for m in history.messages if not m.internal]
        more = history.has_more and after_seq is not None and bool(messages)
        s.conn.send(
            {
                "type": "history",
                "after_seq": after_seq,
                "conversation_id": history.conversation_id,
                "messages": builtins(messages),
                "last_seq": history.last_seq,
                "visitor_read_seq": history.visitor_read_seq,
                "agent_read_seq": history.agent_read_seq,
                "status": history.status,
                "rating": builtins(history.rating) if history.rating else None,  # CSAT
                "more": more,
            }
        )
        if not more:
            break
        after_seq = max(m.seq for m in messages)
    return history.email


async def send_contact(
    s: Session, conversation_email: str | None, ask_identity: bool = True
) -> None:
    """At hello: the address we will write to (null: none), so the widget says so instead
    of asking, and knows before it asks.

    The one the visitor gave in this chat, else a member's profile email (identity is
    asked only for a token with a user id). Never to a continue link's socket.
    """
    if s.grant is not None:
        return
    email = conversation_email
    if email is None and s.user_id and ask_identity:
        found = await s.bus.request(
            s.bus.subjects.request("identity", "profile.resolve"),
            {"workspace_id": s.ws_id, "distinct_id": s.distinct_id},
            timeout=2,
        )
        email = found.get("email") if isinstance(found, dict) else None
    s.conn.send({"type": "contact", "email": email if isinstance(email, str) and email else None})


async def on_resync(s: Session, frame: ResyncFrame) -> None:
    await send_history(s, frame.after_seq)


async def send_presence(s: Session) -> None:
    result = await s.chat_request("presence.get", PresenceRequest(workspace_id=s.ws_id))
    s.conn.send(
        {
            "type": "presence",
            "online_agents": result.get("online_agents", 0),
            "agents": [
                {"name": a.get("name"), "avatar": a.get("avatar")}
                for a in result.get("agents", [])[:5]
            ],
            "away_message": result.get("away_message"),
            "open": result.get("open") is not False,
            "reply_minutes": _minutes(result.get("reply_minutes")),
        }
    )


def _minutes(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


# --- identity --------------------------------------------------------------------------
async def _proof(s: Session, frame: IdentifyFrame | AliasFrame) -> VerifiedIdentity | None:
    """Who the frame proves it is (an identity token, else a user_hash), or None when it
    proves nothing; refused when a token is bad, or when the workspace enforces proof."""
    if frame.identity_token is not None:
        try:
            found = await verify_identity_token(s.workspace, frame.identity_token, s.jwks)
        except TokenRefused as exc:
            raise FrameError("token_refused", exc.reason) from exc
        if found.user_id != frame.user_id:
            raise FrameError("token_refused", "the identity token's sub is another user id")
        return found
    if s.workspace.verify_user_hash(frame.user_id, frame.user_hash):
        return VerifiedIdentity(frame.user_id)
    if s.workspace.enforce_identity_verification:
        raise FrameError("unverified", "user_hash does not match this user id")
    return None


def _now_named(s: Session, user_id: str, proof: VerifiedIdentity | None) -> dict[str, Any]:
    if proof is not None:
        s.verified_until = math.inf if proof.expires_at is None else proof.expires_at
    elif s.user_id != user_id:
        s.verified_until = None
    if s.opened is not None and not (s.verified and s.user_id == user_id):
        s.opened = None  # another (or an unproven) user: back to this device's conversation
        if s.hub is not None:
            s.hub.move(s.conn, s.own_key)
    s.user_id = user_id
    return {"token": s.token(), "user_id": s.user_id, "verified": s.verified}


async def on_identify(s: Session, frame: IdentifyFrame) -> dict[str, Any]:
    mid = frame.message_id
    proof = await _proof(s, frame)
    traits = {**(frame.traits or {}), **(proof.traits() if proof else {})}
    await s.publish("identify", mid, userId=frame.user_id, traits=traits)
    return {"type": "ok", "ref": mid, **_now_named(s, frame.user_id, proof)}


async def on_alias(s: Session, frame: AliasFrame) -> dict[str, Any]:
    mid = frame.message_id
    proof = await _proof(s, frame)
    await s.publish("alias", mid, userId=frame.user_id, previousId=s.distinct_id)
    return {"type": "ok", "ref": mid, **_now_named(s, frame.user_id, proof)}


async def on_track(s: Session, frame: TrackFrame) -> dict[str, Any]:
    mid = frame.message_id
    await s.publish("track", mid, event=frame.event, properties=frame.properties or {})
    return {"type": "ok", "ref": mid}


async def on_page(s: Session, frame: PageFrame) -> dict[str, Any]:
    mid = frame.message_id
    page = page_of(msgspec.structs.asdict(frame))
    s.context["page"] = page
    await s.publish("page", mid, properties=dict(page))
    return {"type": "ok", "ref": mid}


async def on_ping(s: Session, frame: PingFrame) -> dict[str, Any]:
    return {"type": "pong"}


Handler = Callable[[Session, Any], Awaitable[dict[str, Any] | None]]
HANDLERS: dict[str, Handler] = {  # by the frame's type (its tag)
    "message": on_message,
    "email": on_email,
    "typing": on_typing,
    "read": on_read,
    "resync": on_resync,
    "identify": on_identify,
    "alias": on_alias,
    "track": on_track,
    "page": on_page,
    "ping": on_ping,
}
# a verified member's conversations: that module's handlers take this module's Session
from services.gateway.visitor import member  # noqa: E402

HANDLERS.update({"conversations": member.on_conversations, "open": member.on_open})
# after resolution: the rating, a new conversation (that module takes this one's Session)
from services.gateway.visitor import resolved  # noqa: E402

HANDLERS.update({"rate": resolved.on_rate, "new_conversation": resolved.on_new_conversation})
# frames that create something: they also count against the per-visitor message limit
COSTLY = ("message", "email")
# what a continue link's socket may do: the conversation's own frames. Any other type
# (identify, alias, email, track, page: they touch the person) is refused there, and so
# is a type added later until it is listed here (fail closed). A new conversation is this
# device's, not the link's: refused there
GRANTED = ("message", "typing", "read", "resync", "ping", "rate")


async def dispatch(s: Session, frame: dict[str, Any]) -> dict[str, Any] | None:
    try:
        typed = read_frame(frame)
    except FrameRefused as exc:
        raise FrameError(exc.code, str(exc)) from exc
    kind = str(type(typed).__struct_config__.tag)
    if s.grant is not None and kind not in GRANTED:
        raise FrameError("not_granted", "a continue link opens this conversation only")
    try:
        return await HANDLERS[kind](s, typed)
    except PermanentError as exc:
        raise FrameError("invalid", str(exc)) from exc
    except BUS_FAILURES as exc:
        raise FrameError("unavailable", "the chat is unavailable, try again shortly") from exc

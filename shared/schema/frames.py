"""The widget socket's frames, `hello` and those after it, as the browser sends them (v1).

docs/widget-protocol.md describes each; `read_frame` reads a parsed frame as its
type (the `type` field is the tag) and refuses it with the protocol's codes:
`unknown_type` for a type it does not have, `too_large` for a field over its
length, `invalid` for any other field missing or of the wrong shape. Limits that
are settings (the text length) are checked by the handler.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

PROTOCOL_VERSION = 1
MAX_URL = 2000
MAX_NAME = 200
MAX_COMMENT = 1000  # a rating's comment

# a client's own id for a frame: namespaced by visitor before it reaches the bus
ClientId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME, pattern=r"\S")]
Seq = Annotated[int, Meta(ge=0)]


class Frame(msgspec.Struct, tag_field="type", forbid_unknown_fields=False):
    pass


class HelloFrame(Frame, tag="hello"):
    """The first frame (docs/widget-protocol.md, "Session start"); never one after it."""

    token: str | None = None  # a forged or expired one mints a new visitor
    last_seq: Seq | None = None
    page: dict[str, Any] | None = None
    # a continue link's token (shared/continuity.py): the socket is granted that one
    # conversation, and `token` is ignored; an invalid one is refused (`link_expired`)
    continue_token: str | None = None


class MessageFrame(Frame, tag="message"):
    client_msg_id: ClientId
    text: Annotated[str, Meta(pattern=r"\S")]


class EmailFrame(Frame, tag="email"):
    client_msg_id: ClientId
    email: Any = None  # not an address is `bad_email`, the prompt's own answer


class TypingFrame(Frame, tag="typing"):
    typing: Any = False  # only `true` means typing


class ReadFrame(Frame, tag="read"):
    seq: Seq


class ResyncFrame(Frame, tag="resync"):
    after_seq: Seq | None = None


class IdentifyFrame(Frame, tag="identify"):
    message_id: ClientId
    user_id: Name
    user_hash: str | None = None
    identity_token: str | None = None  # a JWT the site's backend signed (shared/identity_token.py)
    traits: dict[str, Any] | None = None


class AliasFrame(Frame, tag="alias"):
    message_id: ClientId
    user_id: Name
    user_hash: str | None = None
    identity_token: str | None = None


class TrackFrame(Frame, tag="track"):
    message_id: ClientId
    event: Name
    properties: dict[str, Any] | None = None


class PageFrame(Frame, tag="page"):
    message_id: ClientId
    url: Annotated[str, Meta(min_length=1)]
    title: str | None = None
    referrer: str | None = None
    path: str | None = None


class PingFrame(Frame, tag="ping"):
    pass


class ConversationsFrame(Frame, tag="conversations"):
    """A verified member asks for their conversations (every device's)."""


class OpenFrame(Frame, tag="open"):
    """A verified member shows one of them; messages then go to it."""

    conversation_id: Annotated[str, Meta(min_length=1, max_length=64)]


class RateFrame(Frame, tag="rate"):
    """CSAT: the visitor rates their resolved conversation (visitor/rating.py)."""

    conversation_id: Annotated[str, Meta(min_length=1, max_length=64)]
    score: Annotated[int, Meta(ge=1, le=5)]  # a bool, a float or a string is `invalid`
    comment: Annotated[str, Meta(max_length=MAX_COMMENT)] = ""


class NewConversationFrame(Frame, tag="new_conversation"):
    """After resolution: the visitor starts a new conversation instead of reopening it."""


AnyFrame = (
    MessageFrame
    | EmailFrame
    | TypingFrame
    | ReadFrame
    | ResyncFrame
    | IdentifyFrame
    | AliasFrame
    | TrackFrame
    | PageFrame
    | PingFrame
    | ConversationsFrame
    | OpenFrame
    | RateFrame
    | NewConversationFrame
)


class FrameRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def read_hello(frame: dict[str, Any]) -> HelloFrame:
    """The first frame as a hello: `hello_required` for another type, else `invalid`."""
    if frame.get("type") != "hello":
        raise FrameRefused("hello_required", "the first frame must be hello")
    try:
        return msgspec.convert(frame, HelloFrame)
    except msgspec.ValidationError as exc:
        raise FrameRefused("invalid", str(exc)) from exc


def read_frame(frame: dict[str, Any]) -> AnyFrame:
    """The frame as its type, or FrameRefused with the protocol's code."""
    try:
        typed: AnyFrame = msgspec.convert(frame, AnyFrame)
        return typed
    except msgspec.ValidationError as exc:
        text = str(exc)
        if text.startswith("Invalid value") and "`$.type`" in text:
            raise FrameRefused("unknown_type", f"unknown frame type {frame.get('type')!r}") from exc
        if "of length <=" in text:
            raise FrameRefused("too_large", text) from exc
        raise FrameRefused("invalid", text) from exc

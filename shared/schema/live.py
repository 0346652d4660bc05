"""The core-NATS frames for visitor sockets, and the visitor's signals to chat (v1).

docs/bus-contract.md, "Live fan-out": chat publishes a visitor's frames on
`P.live.visitor.<workspace>.<visitor_id>` (`VisitorFrame`) and the workspace's
presence on `P.live.visitors.<workspace>` (`VisitorPresence`); the gateway reads
each with `read_visitor_frame` / `read_presence` and forwards the frame as it
re-encodes it, so only the contract's fields reach a browser. The gateway publishes
the visitor's typing and read marks on `P.chat.visitor.signal` (`VisitorSignal`),
which chat reads with `read_signal`; the dashboard publishes an agent's typing
(`AgentTyping`, relayed to the visitor as `VisitorTyping`) and presence heartbeats
(`AgentPresence`, which make the `VisitorPresence` frames), read by chat with
`read_agent_signal`. A payload that does not fit is `LiveRefused`:
the receiver logs and drops it (live frames are at-most-once: the widget resyncs).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta

from shared.schema.chat_replies import Message
from shared.schema.chat_requests import Agent
from shared.schema.requests import check_ids

PROTOCOL_VERSION = 1
MAX_SHOWN = 5  # faces in a presence frame

Seq = Annotated[int, Meta(ge=0)]


class Face(msgspec.Struct):
    """An agent as a visitor sees them: no id."""

    name: str
    avatar: str | None = None


# --- chat -> the visitor's sockets (P.live.visitor.<ws>.<visitor_id>) ----------------------
class LiveFrame(msgspec.Struct, tag_field="type"):
    pass


class VisitorMessage(LiveFrame, tag="message"):
    """A stored message of the visitor's conversation (never an internal note)."""

    message: Message


class VisitorTyping(LiveFrame, tag="typing"):
    typing: bool
    agent: Face


class VisitorRead(LiveFrame, tag="read"):
    """An agent read the conversation up to `seq`."""

    conversation_id: str
    seq: Seq


class VisitorContact(LiveFrame, tag="contact"):
    """Where replies will be emailed, after the visitor gave an address (the prompt or a
    message). The person's, not the conversation's: never to a continue link's socket."""

    email: str


class VisitorStatus(LiveFrame, tag="status"):
    """An agent changed the conversation's status (resolved, open, snoozed)."""

    conversation_id: str
    status: Literal["open", "pending", "snoozed", "resolved"]


class VisitorNewConversation(LiveFrame, tag="new_conversation"):
    """Another tab of this visitor started a new conversation (the gateway publishes it on
    the old key): the widget reconnects, with the visitor token that tab stored."""


VisitorFrame = (
    VisitorMessage
    | VisitorTyping
    | VisitorRead
    | VisitorContact
    | VisitorStatus
    | VisitorNewConversation
)


# --- chat -> every visitor socket of a workspace (P.live.visitors.<ws>) --------------------
class VisitorPresence(LiveFrame, tag="presence"):
    """The `presence.get` answer without agent ids, at most MAX_SHOWN faces."""

    online_agents: Annotated[int, Meta(ge=0)]
    agents: Annotated[list[Face], Meta(max_length=MAX_SHOWN)]
    away_message: str | None
    open: bool
    reply_minutes: Annotated[int, Meta(ge=1)] | None = None  # median first response


# --- the gateway -> chat (P.chat.visitor.signal) -------------------------------------------
class VisitorSignal(msgspec.Struct, tag_field="type", kw_only=True):
    """Chat trusts only `visitor_id` (from the visitor token) and looks the conversation
    up by it; `conversation_id` is always null from the gateway."""

    workspace_id: str
    visitor_id: str
    conversation_id: str | None = None

    def check(self) -> None:
        check_ids(self, ("workspace_id", "visitor_id"))


class TypingSignal(VisitorSignal, tag="typing"):
    typing: bool


class ReadSignal(VisitorSignal, tag="read"):
    seq: Seq


AnySignal = TypingSignal | ReadSignal


# --- the dashboard -> chat (P.chat.agent.typing, P.chat.agent.presence) ---------------------
class AgentTyping(msgspec.Struct, kw_only=True):
    workspace_id: str
    conversation_id: str
    agent: Agent
    typing: bool

    def check(self) -> None:
        check_ids(self, ("workspace_id", "conversation_id"))
        self.agent.check()


class AgentPresence(msgspec.Struct, kw_only=True):
    """A heartbeat every ~15 s per agent with an open socket; `online: false` signs off."""

    workspace_id: str
    agent_id: str
    name: str | None = None
    avatar: str | None = None
    online: bool = True

    def check(self) -> None:
        check_ids(self, ("workspace_id", "agent_id"))


class LiveRefused(ValueError):
    """A live payload that is not the contract's: logged and dropped by its receiver."""


_VISITOR_FRAMES = msgspec.json.Decoder(VisitorFrame)
_PRESENCE = msgspec.json.Decoder(VisitorPresence)
_ENCODER = msgspec.json.Encoder()


def read_visitor_frame(data: bytes) -> VisitorFrame:
    try:
        return _VISITOR_FRAMES.decode(data)
    except msgspec.DecodeError as exc:
        raise LiveRefused(str(exc)) from exc


def read_presence(data: bytes) -> VisitorPresence:
    try:
        return _PRESENCE.decode(data)
    except msgspec.DecodeError as exc:
        raise LiveRefused(str(exc)) from exc


def read_signal(payload: Any) -> TypingSignal | ReadSignal:
    """A signal as `Bus.subscribe` hands it over (parsed JSON)."""
    try:
        signal: AnySignal = msgspec.convert(payload, AnySignal)
        signal.check()
        return signal
    except (msgspec.ValidationError, ValueError) as exc:
        raise LiveRefused(str(exc)) from exc


AgentSignal = TypeVar("AgentSignal", AgentTyping, AgentPresence)


def read_agent_signal(payload: Any, shape: type[AgentSignal]) -> AgentSignal:
    """An agent's typing or presence as `Bus.subscribe` hands it over (parsed JSON)."""
    try:
        signal = msgspec.convert(payload, shape)
        signal.check()
        return signal
    except (msgspec.ValidationError, ValueError) as exc:
        raise LiveRefused(str(exc)) from exc


def frame_text(frame: LiveFrame) -> str:
    """The frame as the widget receives it (encoded once for every socket it goes to)."""
    return _ENCODER.encode(frame).decode()

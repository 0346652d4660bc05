"""What chat's request/reply verbs take (docs/bus-contract.md, "chat"), protocol v1.

One Struct per verb; services/chat/requests.py reads each payload with
`shared.schema.requests.read_request`, so a bad one answers `invalid` with a
message naming the field. Askers build the same Structs (the bus encodes them);
`check()`, what a type cannot say, runs where a request is read, not where it is built. Explicit nulls mean "not given" everywhere except
`assignee_id` of `conversation.update`, where null unassigns (absent = unchanged).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from shared.events import parse_time
from shared.schema.requests import check_ids, check_times, checked_id

PROTOCOL_VERSION = 1
MAX_TEXT = 10_000
MAX_NAME = 200
MAX_URL = 2_000
MAX_DISTINCT_IDS = 100

Status = Literal["open", "pending", "snoozed", "resolved"]
Priority = Literal["none", "low", "medium", "high", "urgent"]
View = Literal["mine", "unassigned", "queue", "all"]
# the labels' fixed palette: the dashboard maps each to colours whose text contrast passes
# WCAG AA (services/dashboard/static/app.css, `.chip-<colour>`); never a raw CSS colour
Colour = Literal["grey", "red", "orange", "yellow", "green", "teal", "blue", "purple", "pink"]
COLOURS: tuple[str, ...] = Colour.__args__  # type: ignore[attr-defined]
MAX_LABEL_NAME = 40
MAX_BULK = 100
LabelName = Annotated[str, Meta(min_length=1, max_length=MAX_LABEL_NAME, pattern=r"\S")]
Seq = Annotated[int, Meta(ge=0)]
Limit = Annotated[int, Meta(ge=1)]
Text = Annotated[str, Meta(min_length=1, max_length=MAX_TEXT, pattern=r"\S")]
# a sender's own token for a message (it names no person)
CLIENT_MSG_ID_PATTERN = r"^[A-Za-z0-9_\-:.]{1,100}$"
ClientMsgId = Annotated[str, Meta(pattern=CLIENT_MSG_ID_PATTERN)]


class ChatRequest(msgspec.Struct, kw_only=True):
    """Every verb names its workspace; `IDS` and `TIMES` are checked by `check()`."""

    IDS: ClassVar[tuple[str, ...]] = ()
    TIMES: ClassVar[tuple[str, ...]] = ()
    LIMIT: ClassVar[tuple[int, int]] = (50, 200)  # (default, maximum)

    workspace_id: str

    def check(self) -> None:
        check_ids(self, ("workspace_id", *self.IDS))
        check_times(self, self.TIMES)

    def page_size(self) -> int:
        default, maximum = self.LIMIT
        given: int | None = getattr(self, "limit", None)
        return default if given is None else min(given, maximum)


class Agent(msgspec.Struct):
    """An agent as a message's author shows them."""

    id: str
    name: Annotated[str, Meta(max_length=MAX_NAME)] | None = None
    avatar: Annotated[str, Meta(max_length=MAX_URL)] | None = None

    def check(self) -> None:
        self.id = checked_id("agent.id", self.id)

    def author(self, kind: str) -> dict[str, Any]:
        return {"kind": kind, "id": self.id, "name": self.name or "", "avatar": self.avatar or None}


class HistoryRequest(ChatRequest):
    IDS = ("visitor_id",)
    LIMIT = (50, 100)
    visitor_id: str
    after_seq: Seq | None = None
    limit: Limit | None = None


class PresenceRequest(ChatRequest):
    pass


class ConversationsList(ChatRequest):
    IDS = ("agent_id",)
    LIMIT = (25, 100)
    view: View | None = None
    agent_id: str | None = None
    status: Status | None = None
    label_id: str | None = None  # only conversations carrying this label
    cursor: str | None = None
    limit: Limit | None = None

    def check(self) -> None:
        check_ids(self, ("label_id",))
        super().check()
        if self.view == "mine" and self.agent_id is None:
            raise ValueError("view mine needs agent_id")


class ConversationsSearch(ChatRequest):
    """`conversations.search`: every word of `q` must match (services/chat/search_terms.py);
    `label` a label id; `since`/`until` bound the last activity (until excluded)."""

    IDS = ("agent_id", "label")
    TIMES = ("since", "until")
    LIMIT = (25, 100)
    q: Annotated[str, Meta(max_length=MAX_NAME)] = ""
    label: str | None = None
    since: str | None = None
    until: str | None = None
    agent_id: str | None = None
    cursor: str | None = None
    limit: Limit | None = None


class InboxCounts(ChatRequest):
    """The inbox views' counts (`agent_id`: whose "mine")."""

    IDS = ("agent_id",)
    agent_id: str | None = None


class LabelsList(ChatRequest):
    pass


class LabelSave(ChatRequest, kw_only=True):
    """A new label (no `label_id`), or a rename and recolour of one."""

    IDS = ("label_id",)
    label_id: str | None = None
    name: LabelName
    colour: Colour

    def check(self) -> None:
        super().check()
        self.name = " ".join(self.name.split())


class LabelDelete(ChatRequest, kw_only=True):
    IDS = ("label_id",)
    label_id: str


LabelIds = Annotated[list[str], Meta(max_length=20)]


def _checked_ids(name: str, ids: list[str]) -> list[str]:
    return list(dict.fromkeys(checked_id(name, i) for i in ids))


class ConversationsBulk(ChatRequest, kw_only=True):
    """One change to many conversations: assign, add a label, resolve (any of them).
    Each conversation changed is announced like a single change."""

    IDS = ("agent_id", "assignee_id", "add_label")
    agent_id: str
    conversation_ids: Annotated[list[str], Meta(min_length=1, max_length=MAX_BULK)]
    # null unassigns, absent leaves it
    assignee_id: str | None | UnsetType = UNSET
    status: Status | None = None
    add_label: str | None = None

    def check(self) -> None:
        super().check()
        self.conversation_ids = _checked_ids("conversation_ids", self.conversation_ids)
        if self.status == "snoozed":
            raise ValueError("bulk actions do not snooze")
        if self.status is None and self.add_label is None and self.assignee_id is UNSET:
            raise ValueError("nothing to change: give assignee_id, status or add_label")


class ConversationsChanged(ChatRequest):
    IDS = ("agent_id", "after_id")
    TIMES = ("since",)
    LIMIT = (200, 500)
    since: str
    agent_id: str | None = None
    after_id: str | None = None
    limit: Limit | None = None

    def since_at(self) -> datetime:
        moment = parse_time(self.since)
        assert moment is not None  # checked by check()
        return moment


class ConversationsByProfile(ChatRequest):
    IDS = ("profile_id", "agent_id", "exclude_id")
    LIMIT = (20, 100)
    profile_id: str | None = None
    distinct_ids: Annotated[list[str], Meta(max_length=MAX_DISTINCT_IDS)] | None = None
    exclude_id: str | None = None
    agent_id: str | None = None
    limit: Limit | None = None

    def check(self) -> None:
        super().check()
        self.distinct_ids = [checked_id("distinct_ids", d) for d in self.distinct_ids or []]
        if not self.profile_id and not self.distinct_ids:
            raise ValueError("profile_id or distinct_ids is required")


class ConversationRequest(ChatRequest):
    """A verb about one conversation (an unknown or foreign one answers `not_found`)."""

    IDS: ClassVar[tuple[str, ...]] = ("conversation_id", "agent_id")
    conversation_id: str
    agent_id: str | None = None


MAX_COMMENT = 1000
Score = Annotated[int, Meta(ge=1, le=5)]


class ConversationRate(ConversationRequest, kw_only=True):
    """The visitor rates their resolved conversation (gateway, CSAT: services/chat/rating.py).
    `visitor_id` is the visitor key the socket reaches the conversation by (from its
    signed token, never from the browser): chat refuses any other visitor's conversation."""

    IDS: ClassVar[tuple[str, ...]] = ("conversation_id", "visitor_id")
    visitor_id: str
    score: Score
    comment: Annotated[str, Meta(max_length=MAX_COMMENT)] = ""


class ContinueOpen(ConversationRequest):
    """A continue link is opened (gateway): the visitor key its conversation is reached by."""


class AgentSend(ConversationRequest, kw_only=True):
    agent: Agent
    client_msg_id: ClientMsgId
    text: Text
    internal: bool = False

    def check(self) -> None:
        super().check()
        self.agent.check()


class ConversationGet(ConversationRequest):
    limit: Limit | None = None


class ConversationMessages(ConversationRequest):
    after_seq: Seq | None = None
    before_seq: Seq | None = None
    limit: Limit | None = None

    def check(self) -> None:
        super().check()
        if self.after_seq is not None and self.before_seq is not None:
            raise ValueError("give after_seq or before_seq, not both")


class ConversationUpdate(ConversationRequest):
    IDS = ("conversation_id", "agent_id", "assignee_id")
    TIMES = ("snoozed_until",)
    status: Status | None = None
    snoozed_until: str | None = None
    priority: Priority | None = None
    # null unassigns, "auto" picks an online agent round-robin, absent leaves it
    assignee_id: str | None | UnsetType = UNSET
    # for the activity line (services/chat/activity.py): who changed it, the assignee's name
    agent_name: Annotated[str, Meta(max_length=MAX_NAME)] | None = None
    assignee_name: Annotated[str, Meta(max_length=MAX_NAME)] | None = None

    def check(self) -> None:
        super().check()
        if self.snoozed_until is not None and self.status != "snoozed":
            raise ValueError("snoozed_until goes with status snoozed")
        if self.status == "snoozed" and self.snoozed_until is None:
            raise ValueError("snoozing needs snoozed_until in the future")
        if self.status is None and self.priority is None and self.assignee_id is UNSET:
            raise ValueError("nothing to change: give status, priority or assignee_id")

    def snooze_until(self) -> datetime | None:
        return parse_time(self.snoozed_until) if self.snoozed_until is not None else None


class ConversationLabels(ConversationRequest, kw_only=True):
    """Add and remove labels on one conversation (an unknown label is refused)."""

    agent_id: str
    add: LabelIds = msgspec.field(default_factory=list)
    remove: LabelIds = msgspec.field(default_factory=list)

    def check(self) -> None:
        super().check()
        self.add = _checked_ids("add", self.add)
        self.remove = _checked_ids("remove", self.remove)
        if not self.add and not self.remove:
            raise ValueError("nothing to change: give add or remove")


class ConversationMerge(ConversationRequest):
    """`conversation_id` is the target: the thread that stays; `source_id` is merged into it."""

    IDS = ("conversation_id", "source_id", "agent_id")
    source_id: str
    agent_id: str
    agent_name: Annotated[str, Meta(max_length=MAX_NAME)] | None = None


class ConversationRead(ConversationRequest):
    agent_id: str
    seq: Seq

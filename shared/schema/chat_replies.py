"""The shapes chat answers with and fans out (docs/bus-contract.md: MESSAGE, SUMMARY, and
each verb's reply), v1.

The widget, the gateway and the dashboard rely on these field names; chat builds
each reply through these Structs (services/chat/model.py), so a field renamed or
dropped on the way fails in chat's own tests, not in a browser.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Time = str | None  # ISO-8601 UTC, milliseconds, `Z`


class Message(msgspec.Struct):
    """MESSAGE: one shape for widget, chat and dashboard."""

    id: str
    conversation_id: str
    seq: int
    client_msg_id: str
    author: dict[str, Any]  # {kind: visitor|agent|system, id, name, avatar}
    text: str
    created_at: Time
    internal: bool
    via: str | None = None  # "email": the visitor replied by email (services/mail)
    kind: str | None = None  # "activity": a line of the thread's history (always internal)
    activity: dict[str, Any] | None = None  # its parts: type, by, to, until, label, ...


class LastMessage(msgspec.Struct):
    text: str  # its first 200 characters
    author_kind: str
    created_at: Time
    seq: int
    internal: bool


class Rating(msgspec.Struct):
    """RATING: the visitor's CSAT answer on a resolved conversation (services/chat/rating.py)."""

    score: int  # 1-5
    comment: str  # "" when none
    at: Time


class ConversationSummary(msgspec.Struct):
    """SUMMARY (CONVERSATION_SUMMARY); `unread` is null in live frames (it is per agent)."""

    id: str
    workspace_id: str
    visitor_id: str
    distinct_id: str | None
    profile_id: str | None
    email: str | None
    status: Literal["open", "pending", "snoozed", "resolved"]
    priority: str
    assignee_id: str | None
    snoozed_until: Time
    last_message: LastMessage | None
    last_seq: int
    last_activity_at: Time
    unread: int | None
    visitor_read_seq: int
    created_at: Time
    updated_at: Time
    labels: list[str] = msgspec.field(default_factory=list)  # label ids
    merged_into: str | None = None  # set when merged into that conversation (thread_merge)
    rating: Rating | None = None  # the visitor's CSAT answer, once they rated


class Label(msgspec.Struct):
    """LABEL: one of the workspace's labels (`colour`: a palette name, COLOURS)."""

    id: str
    name: str
    colour: str


class LabelList(msgspec.Struct):
    """`labels.list`: the workspace's labels by name."""

    labels: list[Label]


class ViewCounts(msgspec.Struct):
    """`inbox.counts`: view (mine / unassigned / queue / all) -> status -> how many."""

    counts: dict[str, dict[str, int]]


class BulkResult(msgspec.Struct):
    """`conversations.bulk`: the conversations after, and the ids not found."""

    conversations: list[ConversationSummary]
    missing: list[str]


# --- the verbs' replies (docs/bus-contract.md, "chat"): chat builds each through these,
# the gateway reads `history` back into its Struct (read_reply) ---------------------------
class SearchHit(msgspec.Struct):
    """One result of `conversations.search`: the conversation, and the message it matched
    in (null when only the person's fields matched) with its text as segments
    `[text, is_match]` (the dashboard escapes each one)."""

    conversation: ConversationSummary
    message_seq: int | None
    snippet: list[tuple[str, bool]]


class SearchPage(msgspec.Struct):
    """`conversations.search`: newest activity first; `terms` the words looked for."""

    hits: list[SearchHit]
    terms: list[str]
    next_cursor: str | None


class ConversationPage(msgspec.Struct):
    """`conversations.list`: newest activity first; `next_cursor` is null on the last page."""

    conversations: list[ConversationSummary]
    next_cursor: str | None


class ConversationChanges(msgspec.Struct):
    """`conversations.changed`: ascending by `updated_at`; ask again from `next_since`."""

    conversations: list[ConversationSummary]
    next_since: Time
    next_after_id: str | None
    has_more: bool


class ProfileConversations(msgspec.Struct):
    """`conversations.by_profile`: the profile sidebar's previous conversations."""

    conversations: list[ConversationSummary]


class ConversationDetail(msgspec.Struct):
    """`conversation.get`: the summary and the latest messages, internal notes included."""

    conversation: ConversationSummary
    messages: list[Message]
    has_more: bool


class MessagePage(msgspec.Struct):
    """`conversation.messages`: ascending by seq."""

    messages: list[Message]
    has_more: bool


class ReadMark(msgspec.Struct):
    """`conversation.read`: where the agent's mark stands (marks never move back)."""

    conversation_id: str
    agent_id: str
    seq: int
    unread: int


class History(msgspec.Struct):
    """`history` (the gateway): the visitor's conversation, never an internal note;
    `conversation_id` and `status` are null before the first message."""

    conversation_id: str | None = None
    messages: list[Message] = msgspec.field(default_factory=list)
    last_seq: int = 0
    has_more: bool = False
    status: Literal["open", "pending", "snoozed", "resolved"] | None = None
    visitor_read_seq: int = 0
    agent_read_seq: int = 0
    email: str | None = None  # where the replies are emailed (given in this chat), if any
    rating: Rating | None = None  # the visitor's CSAT answer (services/chat/rating.py)

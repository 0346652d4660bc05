"""The shapes chat answers with and fans out (docs/bus-contract.md: MESSAGE, SUMMARY), v1.

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


class LastMessage(msgspec.Struct):
    text: str  # its first 200 characters
    author_kind: str
    created_at: Time
    seq: int
    internal: bool


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

"""Segment messages as the ingest API takes them, and what it answers (API version 1).

The Segment spec's camelCase names are the documented ones; the snake_case names
some clients send (`user_id`, `anonymous_id`, ...) are accepted as well and
documented beside them, the camelCase one winning when both are given. Ids may
be numbers (the official clients stringify them; so does the gateway). Explicit
nulls are accepted everywhere. What the type cannot say (placeholder ids, a track
without an event name, storable JSON, time bounds) is checked once, by
`shared.events.IngestEvent` and `services.gateway.events_out`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

API_VERSION = 1
TYPES = ("identify", "alias", "track", "page", "screen", "group")
WIDGET_TYPES = (*TYPES, "email")
MAX_BATCH_MESSAGES = 2500

Id = Annotated[
    str | int | float | None,
    Meta(description="a string, or a number (stringified); placeholders like `undefined` refused"),
]
Object = dict[str, Any] | None
Time = Annotated[str | None, Meta(description="ISO-8601, `Z` or an offset")]

# what each field's type mismatch is refused as (every other field: `bad_type`)
FIELD_CODES = {
    name: "illegal_id"
    for name in (
        "userId",
        "user_id",
        "anonymousId",
        "anonymous_id",
        "previousId",
        "previous_id",
        "groupId",
        "group_id",
    )
} | {"messageId": "bad_message_id", "message_id": "bad_message_id"}


class Message(msgspec.Struct):
    """A Segment message: at least one of `userId` and `anonymousId`."""

    type: Literal["identify", "alias", "track", "page", "screen", "group"] | None = None
    userId: Id = None
    user_id: Annotated[Id, Meta(description="userId, as snake_case clients send it")] = None
    anonymousId: Id = None
    anonymous_id: Annotated[Id, Meta(description="anonymousId, as snake_case clients send it")] = (
        None
    )
    previousId: Annotated[Id, Meta(description="alias only: the id being aliased")] = None
    previous_id: Annotated[Id, Meta(description="previousId, as snake_case clients send it")] = None
    groupId: Annotated[Id, Meta(description="group only (required there)")] = None
    group_id: Annotated[Id, Meta(description="groupId, as snake_case clients send it")] = None
    messageId: Annotated[str, Meta(max_length=200)] | None = None
    message_id: (
        Annotated[str, Meta(max_length=200, description="messageId, as snake_case clients send it")]
        | None
    ) = None
    event: Annotated[str | None, Meta(description="track only (required there)")] = None
    name: Annotated[str | None, Meta(description="page and screen: the page's name")] = None
    category: str | None = None
    traits: Object = None
    properties: Object = None
    context: Object = None
    integrations: Object = None
    timestamp: Time = None
    originalTimestamp: Time = None

    @property
    def user(self) -> Any:
        return self.userId if self.userId is not None else self.user_id

    @property
    def anonymous(self) -> Any:
        return self.anonymousId if self.anonymousId is not None else self.anonymous_id

    @property
    def previous(self) -> Any:
        return self.previousId if self.previousId is not None else self.previous_id

    @property
    def group(self) -> Any:
        return self.groupId if self.groupId is not None else self.group_id

    @property
    def message(self) -> str | None:
        return self.messageId or self.message_id

    @property
    def time(self) -> str | None:
        return self.timestamp or self.originalTimestamp


class WidgetMessage(Message):
    """What the widget socket publishes: a Segment message, or an email a visitor gave."""

    # wider than Message.type on purpose: msgspec validates it; mypy sees a narrowed override
    type: Literal["identify", "alias", "track", "page", "screen", "group", "email"] | None = None  # type: ignore[assignment]
    email: str | None = None


class Batch(msgspec.Struct):
    """`/v1/batch`: the valid messages are stored even when others are refused."""

    batch: Annotated[list[Message], Meta(max_length=MAX_BATCH_MESSAGES)]
    sentAt: Annotated[Time, Meta(description="the client's clock when sent: skew correction")] = (
        None
    )
    context: Annotated[Object, Meta(description="merged under each message's own")] = None
    writeKey: Annotated[str | None, Meta(description="instead of Basic auth")] = None


class Success(msgspec.Struct):
    """Every message is durably stored."""

    success: bool


class Error(msgspec.Struct, omit_defaults=True):
    """Every refusal and failure: a machine-readable `code` and a sentence."""

    code: str
    message: str
    request_id: Annotated[str, Meta(description="as in the X-Request-Id header")] | None = None


class Refused(msgspec.Struct):
    index: int
    code: str
    message: str


class Refusals(msgspec.Struct, omit_defaults=True):
    """Some messages refused (`code` `invalid_messages` for a batch); the rest were stored.

    A batch answers it with 200 and `success: true` while any message was stored (as
    Segment's API does: no client retries or drops the batch), with 400 when none was."""

    code: str
    message: str
    accepted: int
    rejected: Annotated[list[Refused], Meta(max_length=100)]
    success: Annotated[bool | None, Meta(description="true: the batch was partly stored")] = None

"""Webhook endpoints as the gateway's `/v1/webhooks` and the dashboard hand them to the
webhooks service (`P.webhooks.endpoints.*`), and as it answers, v1 (docs/webhooks.md)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

# what an endpoint may subscribe to
Topic = Literal[
    "conversation.created",
    "conversation.status_changed",
    "conversation.assigned",
    "conversation.rated",
    "message.created",
    "person.promoted",
    "person.merged",
    "person.unmerged",
    "person.deleted",
]
TOPICS: tuple[str, ...] = Topic.__args__  # type: ignore[attr-defined]
MAX_URL = 2000
MAX_ENDPOINTS = 20  # per workspace
Time = Annotated[str | None, Meta(description="ISO-8601 UTC")]


class WebhookCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new endpoint: where to POST, which topics, whether it is on."""

    url: Annotated[str, Meta(min_length=1, max_length=MAX_URL, description="http(s) URL")]
    topics: Annotated[list[Topic], Meta(min_length=1, max_length=len(TOPICS))]
    enabled: bool = True
    description: Annotated[str, Meta(max_length=200)] = ""


class Webhook(msgspec.Struct):
    """An endpoint; `secret` (whsec_…) only in the answer that created or rotated it."""

    id: str
    url: str
    topics: list[str]
    enabled: bool
    description: str
    created_at: Time
    failing_since: Time = None
    disabled_reason: str | None = None
    disabled_at: Time = None
    secret: str | None = None


class WebhookList(msgspec.Struct):
    webhooks: list[Webhook]


class WebhookDeleted(msgspec.Struct):
    deleted: bool

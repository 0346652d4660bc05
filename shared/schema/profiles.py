"""The profiles API's answers: identity's replies to `profile.get/find/search/events`, and
the summaries it gives chat and the dashboard (`profile.resolve/summaries`), v1.

Identity shapes them (services/identity/profiles.py) from the field names in
shared/profile_fields.py; the gateway passes them through and documents them from
these Structs. The integration test of the OpenAPI document reads real replies
against the generated schema, so a field added on one side only fails there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

Text = str | None
Time = Annotated[str | None, Meta(description="ISO-8601 UTC")]


class Visitor(msgspec.Struct):
    """One device of the profile, most recently seen first."""

    id: str
    distinct_ids: list[str]
    last_visit: Time = None
    first_seen: Time = None
    country_code: Text = None
    region: Text = None
    city: Text = None
    referring_domain: Text = None
    initial_referring_domain: Text = None
    user_agent: Text = None
    browser: Text = None
    os: Text = None
    device: Text = None


class CompanySummary(msgspec.Struct):
    """A company (Segment's group) a profile belongs to: its group id and shown traits."""

    id: str
    people_count: Annotated[int, Meta(ge=0, description="live people, counted to 10000")]
    name: Text = None
    plan: Text = None
    website: Text = None


class Profile(msgspec.Struct):
    """A live profile; a merged-away id answers with its survivor."""

    id: str
    stage: Literal["visitor", "contact", "member"]
    distinct_ids: list[str]
    emails: list[str]
    visitors: list[Visitor]
    traits: dict[str, Any]
    engagement_score: Annotated[int, Meta(ge=0, le=100)]
    merged_from: list[str]
    user_id: Text = None
    email: Text = None
    name: Text = None
    age: int | None = None
    gender: Text = None
    last_visit: Time = None
    country_code: Text = None
    region: Text = None
    city: Text = None
    referring_domain: Text = None
    first_seen: Time = None
    last_seen: Time = None
    created_at: Time = None
    companies: list[CompanySummary] = msgspec.field(default_factory=list)


class ProfileSummary(msgspec.Struct):
    """The small shape other services label things with: `profile.resolve`'s reply, and
    each entry of `profile.summaries`' (chat and the dashboard read it)."""

    id: str
    stage: Literal["visitor", "contact", "member"]
    name: Text = None
    email: Text = None
    user_id: Text = None


class ProfileSummaries(msgspec.Struct):
    """`profile.summaries`: each asked id to its (survivor's) summary, or null."""

    profiles: dict[str, ProfileSummary | None]
    distinct_ids: dict[str, ProfileSummary | None]


class ProfileList(msgspec.Struct):
    """Profiles found by a lookup, or one page of a listing (`next_cursor` for the next)."""

    profiles: list[Profile]
    next_cursor: str | None = None


class ProfileEvent(msgspec.Struct):
    type: str | None
    event: str | None
    properties: dict[str, Any]
    timestamp: Time
    distinct_id: str | None
    message_id: str | None
    source: str | None = None


class EventList(msgspec.Struct):
    """The profile's events, newest first."""

    profile_id: str
    events: list[ProfileEvent]


class ApiIndex(msgspec.Struct):
    """Where the API's parts are; `openapi` is this document's path."""

    name: str
    ingest: str
    profiles: str
    openapi: str


class Company(msgspec.Struct):
    """A company with one page of its people (by profile id; `next_cursor` for the next)."""

    id: str
    traits: dict[str, Any]
    people_count: Annotated[int, Meta(ge=0, description="live people, counted to 10000")]
    people: list[ProfileSummary]
    name: Text = None
    plan: Text = None
    website: Text = None
    first_seen: Time = None
    last_seen: Time = None
    created_at: Time = None
    next_cursor: str | None = None

"""Why a profile is what it is: identity's replies to `profile.merges` (its merges and the
links it refused, each with its cause) and `profile.trait_history` (traits' recent values), v1.

The profiles API passes them through (`GET /v1/profiles/{id}/merges`, `.../traits/{name}/
history`) and documents them from these Structs; the dashboard's profile page draws them.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

Text = str | None
Time = Annotated[str | None, Meta(description="ISO-8601 UTC")]


class Side(msgspec.Struct):
    """A profile as it was just before the merge or the refusal."""

    id: str
    stage: Text = None
    user_id: Text = None
    emails: list[str] = []


class Cause(msgspec.Struct):
    """What made the link: the event (absent for records older than causes) and the rule."""

    rule: Annotated[str, Meta(description="identify, alias, email, account_switch, ...")]
    message_id: Text = None
    type: Text = None
    source: Text = None
    trusted: bool | None = None
    user_id: Text = None
    anonymous_id: Text = None
    email: Text = None


class Merge(msgspec.Struct):
    """`merged_id` was merged into `survivor_id` (itself maybe merged on since)."""

    id: str
    merged_id: str
    survivor_id: str
    at: Time
    rule: str
    cause: Cause
    merged: Side | None = None
    survivor: Side | None = None


class Refusal(msgspec.Struct):
    """A link identity refused (a conflict): the profiles stayed apart."""

    id: str
    kind: str
    at: Time
    persons: list[str]
    cause: Cause
    sides: list[Side] = []
    attempts: int | None = None  # a held merge: how often the pair came back
    distinct_ids: int | None = None  # a held merge: the ids the two hold together


class ReviewList(msgspec.Struct):
    """Merges held back by the distinct-id limit, waiting for a person to look."""

    limit: int
    reviews: list[Refusal]


class Actor(msgspec.Struct):
    """Who undid a merge: an agent of the dashboard, or the secret key (`api`)."""

    kind: str
    id: Text = None
    email: Text = None


class Unmerge(msgspec.Struct):
    """A merge undone (`person.unmerged`): the merge as it was, who undid it and when."""

    merge: Merge
    undone_at: Time
    undone_by: Actor
    distinct_ids: list[str] = []  # what went back to the re-created profile


class MergeHistory(msgspec.Struct):
    """The profile's merges, refused links and undone merges, newest first."""

    profile_id: str
    merges: list[Merge]
    refusals: list[Refusal]
    unmerges: list[Unmerge] = []


class TraitValue(msgspec.Struct):
    """One write of a trait: its value, the event's time, message id and source."""

    at: Time
    message_id: str
    mode: Annotated[str, Meta(description="set, set_once or unset (value null)")]
    source: Text
    value: Any


class TraitHistory(msgspec.Struct):
    """Each asked trait's recent values (at most 10), newest first by event time."""

    profile_id: str
    traits: dict[str, list[TraitValue]]

"""What identity's request/reply verbs take (docs/bus-contract.md, "identity"), v1.

One Struct per verb; services/identity/requests.py reads each payload with
`shared.schema.requests.read_request(..., lax=True)`: `limit` may come as a
string of digits, and an empty string means "not given" (query strings pass
through the gateway as they came). The replies are shared/schema/profiles.py.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import Meta

from shared.schema.requests import check_times

PROTOCOL_VERSION = 1
MAX_TEXT = 300
MAX_BULK = 200
MAX_LIMIT = 200

Text = Annotated[str, Meta(min_length=1, max_length=MAX_TEXT)]
Limit = Annotated[int, Meta(ge=1)]
Stage = Literal["visitor", "contact", "member"]
Ids = Annotated[list[Text], Meta(max_length=MAX_BULK)]


def without_blanks(payload: Any) -> Any:
    """An empty string is an absent field (a query parameter given empty)."""
    if not isinstance(payload, dict):
        return payload
    return {k: v for k, v in payload.items() if v != ""}


class IdentityRequest(msgspec.Struct, kw_only=True):
    LIMIT: ClassVar[int] = 50

    workspace_id: Text

    def page_size(self) -> int:
        given: int | None = getattr(self, "limit", None)
        return self.LIMIT if given is None else min(given, MAX_LIMIT)


class Resolve(IdentityRequest):
    distinct_id: Text


class Get(IdentityRequest):
    profile_id: Text


class Find(IdentityRequest):
    user_id: Text | None = None
    email: Text | None = None
    distinct_id: Text | None = None

    def check(self) -> None:
        if not (self.user_id or self.email or self.distinct_id):
            raise ValueError("give user_id, email or distinct_id")


class Search(IdentityRequest):
    LIMIT = 25
    q: Text | None = None
    stage: Stage | None = None
    cursor: Text | None = None
    limit: Limit | None = None


class Events(IdentityRequest):
    profile_id: Text
    before: Text | None = None
    limit: Limit | None = None

    def check(self) -> None:
        check_times(self, ("before",))


class CompanyGet(IdentityRequest):
    LIMIT: ClassVar[int] = 50

    company_id: Text
    cursor: Text | None = None
    limit: Limit | None = None


class Merges(IdentityRequest):
    profile_id: Text


class TraitHistory(IdentityRequest):
    profile_id: Text
    name: Text | None = None  # one trait; absent: every trait with a history


class Reviews(IdentityRequest):
    limit: Limit | None = None


class Summaries(IdentityRequest):
    ids: Ids | None = None
    distinct_ids: Ids | None = None


class Export(IdentityRequest):
    """`person.export`: the person's records; `person.export_events`: a page of its events."""

    profile_id: Text
    cursor: Text | None = None
    limit: Limit | None = None


class Unmerge(IdentityRequest):
    """`profile.unmerge`: undo one merge of the profile's timeline; who asked is recorded."""

    profile_id: Text
    merge_id: Text
    actor_kind: Literal["api", "agent"] = "api"
    actor_id: Text | None = None
    actor_email: Text | None = None


class Delete(IdentityRequest):
    """`person.delete`: who asked travels with the fact (the audit's who)."""

    profile_id: Text
    actor_kind: Literal["api", "agent"] = "api"
    actor_id: Text | None = None
    actor_email: Text | None = None
    # Segment's "suppress with delete": later events naming the person's ids are dropped
    suppress: bool = False

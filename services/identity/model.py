"""Profile state as pure functions: what one event does to a person or a visitor, and merges.

Every write here is commutative and idempotent, so the same events in any order,
delivered once or many times, give the same profile (docs/identity.md):
- a trait carries the event time and message id of the write that set it; a
  `$set`-style write wins over an older one, a `$set_once`-style write keeps the
  earliest, and a `$set` always beats a `$set_once` (mode, then time, decides);
- `first_seen` is a minimum, `last_seen` a maximum, emails and active days are sets;
- a merge takes the union of the two, deciding each trait by the same order.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.identity import trait_history
from shared.schema import builtins
from shared.schema.profiles import ProfileSummary

STAGES = ("visitor", "contact", "member")
MAX_TRAITS = 300
MAX_ACTIVE_DAYS = 400
MAX_SEARCH_KEYS = 12
MAX_COMPANIES = 50  # companies one person belongs to; a later group past it is not joined
SET, ONCE = 1, 0  # mode rank: a $set beats a $set_once

Meta = list  # [mode, iso time, message id]


def stage_rank(stage: str | None) -> int:
    return STAGES.index(stage) if stage in STAGES else 0


def clean_key(key: object) -> str | None:
    """A trait name Mongo can store as a field: no dots, no leading `$`, bounded."""
    if not isinstance(key, str):
        return None
    text = key.strip().replace(".", "_").lstrip("$")[:100]
    return text or None


@dataclass
class Change:
    """What one event asks of a person, already validated and normalised."""

    at: str  # ISO event time, UTC, fixed width: compares as text
    message_id: str
    set: dict[str, Any] = field(default_factory=dict)
    set_once: dict[str, Any] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)
    user_id: str | None = None
    email: str | None = None
    email_trusted: bool = False
    source: str | None = None  # api, widget, chat: for the traits' history
    company_id: str | None = None  # a group call: the group id the person joins
    active: bool = True  # counts for first/last seen and engagement


@dataclass
class Visit:
    """What one event tells about the device (visitor) it came from."""

    at: str
    message_id: str
    is_visit: bool = False
    geo: dict[str, str | None] | None = None
    referring_domain: str | None = None
    user_agent: str | None = None
    ua: dict[str, str | None] | None = None


def new_person(person_id: str, workspace_id: str, created_at: datetime) -> dict[str, Any]:
    return {
        "_id": person_id,
        "workspace_id": workspace_id,
        "version": 0,
        "created_at": created_at,
        "stage": "visitor",
        "user_id": None,
        "email": None,
        "emails": [],
        "trusted_emails": [],
        "name": None,
        "age": None,
        "gender": None,
        "traits": {},
        "trait_meta": {},
        "trait_history": {},
        "first_seen": None,
        "last_seen": None,
        "active_days": [],
        "merged_from": [],
        "merged_into": None,
        "company_ids": [],
        "search": [],
        "stage_announced": "visitor",
    }


def new_visitor(
    visitor_id: str, workspace_id: str, person_id: str, distinct_id: str, created_at: datetime
) -> dict[str, Any]:
    return {
        "_id": visitor_id,
        "workspace_id": workspace_id,
        "person_id": person_id,
        "distinct_id": distinct_id,
        "version": 0,
        "created_at": created_at,
        "first_seen": None,
        "last_visit": None,
        "country_code": None,
        "region": None,
        "city": None,
        "geo_at": None,
        "referring_domain": None,
        "referring_at": None,
        "initial_referring_domain": None,
        "initial_referring_at": None,
        "user_agent": None,
        "browser": None,
        "os": None,
        "device": None,
        "ua_at": None,
    }


def _wins(new: Meta, old: Meta | None) -> bool:
    """Does a write with meta `new` replace one with meta `old`?"""
    if old is None:
        return True
    if new[0] != old[0]:
        return new[0] > old[0]
    if new[0] == SET:
        return (new[1], new[2]) > (old[1], old[2])
    return (new[1], new[2]) < (old[1], old[2])


def _write_trait(person: dict[str, Any], key: str, value: Any, meta: Meta) -> None:
    traits, metas = person["traits"], person["trait_meta"]
    if key not in metas and len(metas) >= MAX_TRAITS:
        return
    if _wins(meta, metas.get(key)):
        metas[key] = meta
        traits[key] = value


def minute(at: str) -> str:
    """Seen-times are kept to the minute: a burst of page views costs one write, and the
    maximum of truncated times is the truncated maximum, so order still does not matter."""
    return at[:16] + ":00.000000Z"


def _min(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _max(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def _derive(person: dict[str, Any]) -> None:
    """Fields computed from traits and ids: name, email, age, gender, stage, search keys."""
    traits = person["traits"]
    name = traits.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [traits.get(k) for k in ("firstName", "lastName")]
        if not any(isinstance(p, str) and p.strip() for p in parts):
            parts = [traits.get(k) for k in ("first_name", "last_name")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip()) or None
    person["name"] = name.strip()[:200] if isinstance(name, str) else None
    email = traits.get("email")
    person["email"] = email if isinstance(email, str) else None
    age = traits.get("age")
    person["age"] = age if isinstance(age, int) and not isinstance(age, bool) else None
    if isinstance(age, str) and age.strip().isdigit():
        person["age"] = int(age.strip())
    gender = traits.get("gender")
    person["gender"] = gender.strip()[:50] if isinstance(gender, str) and gender.strip() else None
    rank = stage_rank(person["stage"])
    if person["emails"]:
        rank = max(rank, 1)
    if person["user_id"]:
        rank = max(rank, 2)
    person["stage"] = STAGES[rank]
    keys: list[str] = []
    for value in (person["email"], person["user_id"], person["name"]):
        if isinstance(value, str) and value:
            keys.append(value.lower()[:200])
    if person["name"]:
        keys.extend(w.lower() for w in re.split(r"\s+", person["name"]) if w)
    keys.extend(e for e in person["emails"] if e != person["email"])
    person["search"] = sorted(set(keys))[:MAX_SEARCH_KEYS]


def _remember(person: dict[str, Any], key: str, mode: str, value: Any, change: Change) -> None:
    if key in person["trait_meta"]:  # a trait past MAX_TRAITS is neither kept nor recalled
        new = trait_history.entry(change.at, change.message_id, mode, change.source, value)
        trait_history.record(person, key, new)


def joined_companies(company_ids: list[str], group_id: str | None) -> list[str]:
    """The person's company ids after joining `group_id` (bounded, kept sorted)."""
    if not group_id or group_id in company_ids or len(company_ids) >= MAX_COMPANIES:
        return company_ids
    return sorted({*company_ids, group_id})


def union_companies(mine: list[str], theirs: list[str]) -> list[str]:
    """A merge's company ids: both persons', the survivor's first when past the bound."""
    extra = sorted(set(theirs) - set(mine))
    return sorted({*mine, *extra[: max(0, MAX_COMPANIES - len(mine))]})


def apply_change(person: dict[str, Any], change: Change) -> dict[str, Any]:
    """A new person document with `change` applied (the input is left untouched)."""
    out = copy.deepcopy(person)
    set_meta: Meta = [SET, change.at, change.message_id]
    for key, value in change.set.items():
        _write_trait(out, key, value, set_meta)
        _remember(out, key, "set", value, change)
    for key in change.unset:
        _write_trait(out, key, None, set_meta)
        _remember(out, key, "unset", None, change)
    once_meta: Meta = [ONCE, change.at, change.message_id]
    for key, value in change.set_once.items():
        _write_trait(out, key, value, once_meta)
        _remember(out, key, "set_once", value, change)
    if change.email:
        _write_trait(out, "email", change.email, set_meta)
        _remember(out, "email", "set", change.email, change)
        if change.email not in out["emails"]:
            out["emails"] = sorted({*out["emails"], change.email})
        if change.email_trusted and change.email not in out["trusted_emails"]:
            out["trusted_emails"] = sorted({*out["trusted_emails"], change.email})
    if change.user_id and not out["user_id"]:
        out["user_id"] = change.user_id
    if change.company_id:
        out["company_ids"] = joined_companies(out.get("company_ids") or [], change.company_id)
    if change.active:
        out["first_seen"] = _min(out["first_seen"], minute(change.at))
        out["last_seen"] = _max(out["last_seen"], minute(change.at))
        day = change.at[:10]
        if day not in out["active_days"]:
            out["active_days"] = sorted({*out["active_days"], day})[-MAX_ACTIVE_DAYS:]
    out["traits"] = {k: v for k, v in out["traits"].items() if k in out["trait_meta"]}
    _derive(out)
    return out


def absorb(survivor: dict[str, Any], merged: dict[str, Any]) -> dict[str, Any]:
    """The survivor after taking in everything `merged` had (user ids were checked before)."""
    out = copy.deepcopy(survivor)
    for key, meta in merged["trait_meta"].items():
        _write_trait(out, key, merged["traits"].get(key), list(meta))
    trait_history.union(out, merged)
    out["emails"] = sorted({*out["emails"], *merged["emails"]})
    out["trusted_emails"] = sorted({*out["trusted_emails"], *merged["trusted_emails"]})
    if not out["user_id"]:
        out["user_id"] = merged["user_id"]
    out["first_seen"] = _min(out["first_seen"], merged["first_seen"])
    out["last_seen"] = _max(out["last_seen"], merged["last_seen"])
    days = {*out["active_days"], *merged["active_days"]}
    out["active_days"] = sorted(days)[-MAX_ACTIVE_DAYS:]
    out["merged_from"] = sorted({*out["merged_from"], merged["_id"], *merged["merged_from"]})
    theirs = merged.get("company_ids") or []
    if theirs:
        out["company_ids"] = union_companies(out.get("company_ids") or [], theirs)
    if stage_rank(merged["stage"]) > stage_rank(out["stage"]):
        out["stage"] = merged["stage"]
    _derive(out)
    return out


def apply_visit(visitor: dict[str, Any], visit: Visit) -> dict[str, Any]:
    """A new visitor document with what `visit` saw of the device (last write by event time)."""
    out = dict(visitor)
    when = [visit.at, visit.message_id]
    if visit.is_visit:
        out["first_seen"] = _min(out["first_seen"], minute(visit.at))
        out["last_visit"] = _max(out["last_visit"], minute(visit.at))
    if visit.geo and any(visit.geo.values()) and (out["geo_at"] is None or when > out["geo_at"]):
        out.update(
            country_code=visit.geo.get("country_code"),
            region=visit.geo.get("region"),
            city=visit.geo.get("city"),
            geo_at=when,
        )
    if visit.referring_domain:
        if out["referring_at"] is None or when > out["referring_at"]:
            out.update(referring_domain=visit.referring_domain, referring_at=when)
        if out["initial_referring_at"] is None or when < out["initial_referring_at"]:
            out.update(initial_referring_domain=visit.referring_domain, initial_referring_at=when)
    if visit.user_agent and (out["ua_at"] is None or when > out["ua_at"]):
        ua = visit.ua or {}
        out.update(
            user_agent=visit.user_agent,
            browser=ua.get("browser"),
            os=ua.get("os"),
            device=ua.get("device"),
            ua_at=when,
        )
    return out


def changed(before: dict[str, Any], after: dict[str, Any], skip: tuple[str, ...] = ()) -> bool:
    """Whether the documents differ beyond their write stamps (and the `skip` fields)."""
    skip = ("version", "rev", *skip)
    return {k: v for k, v in before.items() if k not in skip} != {
        k: v for k, v in after.items() if k not in skip
    }


# what page views and tracks keep moving, which no frame or fact shows
ACTIVITY_FIELDS = ("first_seen", "last_seen", "active_days")


def shown_changed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether the change is one a `profile.updated` frame is for (a promotion, a trait,
    an email...): anything but the activity every page view moves."""
    return changed(before, after, ACTIVITY_FIELDS)


def summary(person: dict[str, Any]) -> dict[str, Any]:
    """The small shape other services label things with, as JSON-ready builtins."""
    built: dict[str, Any] = builtins(summary_of(person))
    return built


def summary_of(person: dict[str, Any]) -> ProfileSummary:
    return ProfileSummary(
        id=person["_id"],
        stage=person["stage"],
        name=person["name"],
        email=person["email"],
        user_id=person["user_id"],
    )

"""A side of an undone merge rebuilt from its events, by the same rules as when they came.

Each stored event record gives back the trait writes its event made (`Change`, as
`interpret.plan_for` read them: identify traits, `$set`/`$set_once`/`$unset` of a track
or page, an email given); they are applied in any order through `model.apply_change`,
which is commutative, so the replay gives what the events gave. What a record cannot
give back (a body cut at 40,000 characters, writes not recorded yet when the undo read)
is taken from the side's document where the write's message is not the other side's:
the same ordering (`_write_trait`) decides between the two.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from typing import Any

from services.identity import trait_history
from services.identity.interpret import trait_writes
from services.identity.model import (
    MAX_ACTIVE_DAYS,
    STAGES,
    Change,
    _derive,
    _write_trait,
    apply_change,
    minute,
    new_person,
    stage_rank,
)
from shared import clock
from shared.identifiers import normalize_email


@dataclass
class Side:
    """What one side's events were: their message ids and the emails they gave."""

    message_ids: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    unknown_trust: set[str] = field(default_factory=set)  # emails of records before `trusted`


def _body(record: dict[str, Any]) -> dict[str, Any]:
    try:
        body = json.loads(record.get("properties_json") or "{}")
    except ValueError:
        return {}  # cut at its bound: the side's document keeps what it wrote
    return body if isinstance(body, dict) else {}


def change_of(record: dict[str, Any]) -> Change | None:
    """The trait and email writes of one stored event (None: a record without a time)."""
    moment = record.get("timestamp")
    if moment is None:
        return None
    kind, body = record.get("type"), _body(record)
    trusted = record.get("trusted")
    change = Change(
        at=clock.iso(moment, "microseconds"),
        message_id=str(record.get("message_id")),
        source=record.get("source"),
    )
    email: Any = None
    if kind == "identify":
        traits = dict(body)
        email = traits.pop("email", None)
        change.set, change.set_once, change.unset = trait_writes(traits)
    elif kind == "email":
        email = body.get("email")
    elif kind in ("track", "page", "screen"):
        sets, once, unset = trait_writes(
            {
                "$set": body.get("$set"),
                "$set_once": body.get("$set_once"),
                "$unset": body.get("$unset"),
            }
        )
        change.set, change.set_once, change.unset = sets, once, unset
        email = change.set.pop("email", None)
    change.set_once.pop("email", None)
    if isinstance(email, str):
        change.email = normalize_email(email)
        change.email_trusted = bool(trusted) and change.source == "api"
    return change


def _seen(person: dict[str, Any], at: str) -> None:
    person["first_seen"] = min(filter(None, [person["first_seen"], minute(at)]))
    person["last_seen"] = max(filter(None, [person["last_seen"], minute(at)]))
    day = at[:10]
    if day not in person["active_days"]:
        person["active_days"] = sorted({*person["active_days"], day})[-MAX_ACTIVE_DAYS:]


async def replayed(
    person_id: str, workspace_id: str, records: AsyncIterable[dict[str, Any]]
) -> tuple[dict[str, Any], Side]:
    """A fresh person holding what the records' events wrote, and what they were."""
    out, side = new_person(person_id, workspace_id, clock.now()), Side()
    async for record in records:
        change = change_of(record)
        if change is None:
            continue
        side.message_ids.add(change.message_id)
        if change.email:
            side.emails.add(change.email)
            if record.get("trusted") is None:
                side.unknown_trust.add(change.email)
        if change.set or change.set_once or change.unset or change.email:
            out = apply_change(out, change)
        else:
            _seen(out, change.at)  # the bulk of events: activity only, no copy
    return out, side


@dataclass(frozen=True)
class Rebuild:
    """How a side's rebuilt document comes together."""

    base: dict[str, Any]  # the side's document (the frozen merged one, or the survivor now)
    user_id: str | None  # the user id whose distinct id is on this side
    merged_from: list[str]
    keep_seen: bool  # the base's activity is all its own (the frozen side)
    stage_floor: str | None  # the stage the side had on its own before the merge


def rebuilt(fresh: dict[str, Any], mine: Side, other: Side, plan: Rebuild) -> dict[str, Any]:
    """The replayed side joined with what its document holds that is not the other side's."""
    base, out = plan.base, copy.deepcopy(fresh)
    for key, meta in (base.get("trait_meta") or {}).items():
        if meta[2] not in other.message_ids:
            _write_trait(out, key, base["traits"].get(key), list(meta))
    own = {
        k: [e for e in entries if e[1] not in other.message_ids]
        for k, entries in (base.get("trait_history") or {}).items()
    }
    trait_history.union(out, {"trait_history": {k: v for k, v in own.items() if v}})
    out["traits"] = {k: v for k, v in out["traits"].items() if k in out["trait_meta"]}
    emails = set(out["emails"]) | (set(base["emails"]) - other.emails)
    guessed = set(base["trusted_emails"]) & (mine.unknown_trust | (emails - mine.emails))
    out["emails"] = sorted(emails)
    out["trusted_emails"] = sorted((set(out["trusted_emails"]) | guessed) & emails)
    if plan.keep_seen:
        for name, pick in (("first_seen", min), ("last_seen", max)):
            values = [v for v in (out[name], base.get(name)) if v]
            out[name] = pick(values) if values else None
        days = {*out["active_days"], *(base.get("active_days") or [])}
        out["active_days"] = sorted(days)[-MAX_ACTIVE_DAYS:]
    out["user_id"] = plan.user_id
    out["merged_from"] = sorted(plan.merged_from)
    out["stage"] = STAGES[stage_rank(plan.stage_floor)]
    for name in ("_id", "workspace_id", "version", "created_at", "company_ids", "stage_announced"):
        if name in base:
            out[name] = base[name]
    _derive(out)
    return out

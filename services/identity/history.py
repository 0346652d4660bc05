"""A profile's merges, refused links and traits' history as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.identity import trait_history
from services.identity.model import clean_key
from services.identity.store import IdentityStore
from shared.schema.history import (
    Actor,
    Cause,
    Merge,
    MergeHistory,
    Refusal,
    Side,
    TraitHistory,
    TraitValue,
    Unmerge,
)

MAX_SHOWN = 200


def _time(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value if isinstance(value, str) else None


def _side(doc: Any) -> Side | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        return None
    emails = [e for e in doc.get("emails") or [] if isinstance(e, str)]
    return Side(id=doc["id"], stage=doc.get("stage"), user_id=doc.get("user_id"), emails=emails)


def _cause(doc: dict[str, Any] | None, rule: str) -> Cause:
    doc = doc or {}
    fields = {k: doc.get(k) for k in Cause.__struct_fields__ if k != "rule"}
    return Cause(rule=str(doc.get("rule") or rule), **fields)


def merge_view(doc: dict[str, Any]) -> Merge:
    cause = doc.get("cause") or {}
    return Merge(
        id=str(doc["_id"]),
        merged_id=doc["merged_id"],
        survivor_id=doc["survivor_id"],
        at=_time(doc.get("at")),
        rule=str(doc.get("reason") or cause.get("rule") or "identify"),
        cause=_cause(cause, doc.get("reason") or "identify"),
        merged=_side(cause.get("merged")),
        survivor=_side(cause.get("survivor")),
    )


def unmerge_view(doc: dict[str, Any]) -> Unmerge:
    given = doc.get("undone_by")
    by: dict[str, Any] = given if isinstance(given, dict) else {}
    return Unmerge(
        merge=merge_view(doc),
        undone_at=_time(doc.get("undone_at")),
        undone_by=Actor(kind=str(by.get("kind") or "api"), id=by.get("id"), email=by.get("email")),
        distinct_ids=[d for d in doc.get("distinct_ids") or [] if isinstance(d, str)][:100],
    )


def refusal_view(doc: dict[str, Any]) -> Refusal:
    cause = dict(doc.get("cause") or {})
    cause.setdefault("message_id", doc.get("message_id"))
    cause.setdefault("email", doc.get("email"))
    sides = [s for s in (_side(d) for d in cause.get("sides") or []) if s]
    return Refusal(
        id=str(doc["_id"]),
        kind=str(doc.get("kind") or "conflict"),
        at=_time(doc.get("at")),
        persons=[p for p in doc.get("persons") or [] if isinstance(p, str)],
        cause=_cause(cause, str(doc.get("kind") or "conflict")),
        sides=sides,
        attempts=doc.get("attempts"),
        distinct_ids=doc.get("distinct_ids"),
    )


async def merge_history(store: IdentityStore, person: dict[str, Any]) -> MergeHistory:
    """Every merge that built the person (chains included) and every link refused it."""
    ws, family = person["workspace_id"], [person["_id"], *person["merged_from"]]
    merges = await store.merges_into(ws, family, MAX_SHOWN)
    refusals = await store.conflicts_of(ws, family, MAX_SHOWN)
    unmerges = await store.unmerges_of(ws, family, MAX_SHOWN)
    return MergeHistory(
        profile_id=person["_id"],
        merges=[merge_view(d) for d in merges],
        refusals=[refusal_view(d) for d in refusals],
        unmerges=[unmerge_view(d) for d in unmerges],
    )


def traits_history(person: dict[str, Any], name: str | None) -> TraitHistory:
    """One trait's recent values (none if it never had any), or every trait's."""
    stored = person.get("trait_history") or {}
    if name is not None:
        key = clean_key(name) or name
        stored = {key: stored.get(key, [])}
    return TraitHistory(
        profile_id=person["_id"],
        traits={
            k: [TraitValue(**v) for v in trait_history.view(entries)]
            for k, entries in sorted(stored.items())
        },
    )

"""The profile as the API shows it: a person with its visitors, distinct ids and events.

Built as the Structs of shared/schema/profiles.py, so a field the schema does not
name (or one it requires and is missing) fails here, not in a client.
"""

from __future__ import annotations

import json
from typing import Any

from services.identity.engagement import engagement_score
from services.identity.store import IdentityStore
from shared.profile_fields import LOCATION_FIELDS, VISITOR_FIELDS
from shared.schema.profiles import CompanySummary, Profile, ProfileEvent, Visitor

MAX_IDS_SHOWN = 500
MAX_COMPANIES_SHOWN = 20  # a profile's companies listed (each costs a people count)


def _family(person: dict[str, Any]) -> list[str]:
    """The person's id and every id merged into it (pointers may still name those)."""
    return [person["_id"], *person.get("merged_from", [])]


async def full_profiles(store: IdentityStore, persons: list[dict[str, Any]]) -> list[Profile]:
    """Issue 3's profile shape for live persons, with two queries for the whole list."""
    if not persons:
        return []
    owner = {pid: p["_id"] for p in persons for pid in _family(p)}
    ids: dict[str, list[dict]] = {}
    visitors: dict[str, list[dict]] = {}
    for ws in sorted({p["workspace_id"] for p in persons}):  # equality first: index bounds
        family = [pid for p in persons if p["workspace_id"] == ws for pid in _family(p)]
        for doc in await store.dids_of(ws, family, MAX_IDS_SHOWN * len(persons)):
            ids.setdefault(owner[doc["person_id"]], []).append(doc)
        for doc in await store.visitors_of(ws, family):
            visitors.setdefault(owner[doc["person_id"]], []).append(doc)
    companies = await companies_of(store, persons)
    return [
        _shape(p, ids.get(p["_id"], []), visitors.get(p["_id"], []), companies) for p in persons
    ]


def _shown_ids(person: dict[str, Any]) -> list[str]:
    return (person.get("company_ids") or [])[:MAX_COMPANIES_SHOWN]


async def companies_of(
    store: IdentityStore, persons: list[dict[str, Any]]
) -> dict[tuple[str, str], CompanySummary]:
    """The persons' companies, by (workspace, group id): one read a workspace, one
    people count a company."""
    out: dict[tuple[str, str], CompanySummary] = {}
    for ws in sorted({p["workspace_id"] for p in persons}):
        wanted = {g for p in persons if p["workspace_id"] == ws for g in _shown_ids(p)}
        for group_id, doc in (await store.load_companies(ws, wanted)).items():
            out[(ws, group_id)] = company_summary(doc, await store.count_people(ws, group_id))
    return out


def company_summary(doc: dict[str, Any], people: int) -> CompanySummary:
    return CompanySummary(
        id=doc["group_id"],
        people_count=people,
        name=doc.get("name"),
        plan=doc.get("plan"),
        website=doc.get("website"),
    )


def _shape(
    person: dict[str, Any],
    dids: list[dict],
    visitors: list[dict],
    companies: dict[tuple[str, str], CompanySummary],
) -> Profile:
    by_visitor: dict[str, list[str]] = {}
    for doc in dids:
        by_visitor.setdefault(doc["visitor_id"], []).append(doc["distinct_id"])
    shown = []
    stored = {v["_id"] for v in visitors}
    # a device that has sent nothing worth keeping yet has ids but no document
    visitors = visitors + [{"_id": vid} for vid in sorted(by_visitor) if vid not in stored]
    for visitor in visitors:
        entry = {"id": visitor["_id"], "distinct_ids": sorted(by_visitor.get(visitor["_id"], []))}
        entry.update({k: visitor.get(k) for k in VISITOR_FIELDS})
        shown.append(entry)
    shown.sort(key=lambda v: (v["last_visit"] or "", v["id"]), reverse=True)
    latest = next((v for v in shown if v["last_visit"]), None) or {}
    ws = person["workspace_id"]
    return Profile(
        visitors=[Visitor(**v) for v in shown],
        companies=[companies[(ws, g)] for g in _shown_ids(person) if (ws, g) in companies],
        **_person_fields(person, dids, latest),
    )


def _person_fields(
    person: dict[str, Any], dids: list[dict], latest: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": person["_id"],
        "stage": person["stage"],
        "user_id": person["user_id"],
        "email": person["email"],
        "emails": person["emails"],
        "name": person["name"],
        "age": person["age"],
        "gender": person["gender"],
        "distinct_ids": sorted(d["distinct_id"] for d in dids)[:MAX_IDS_SHOWN],
        **{k: latest.get(k) for k in LOCATION_FIELDS},
        "first_seen": person["first_seen"],
        "last_seen": person["last_seen"],
        "traits": {k: v for k, v in person["traits"].items() if v is not None},
        "engagement_score": engagement_score(person["last_seen"], person["active_days"]),
        "merged_from": person["merged_from"],
        "created_at": person["created_at"].isoformat() if person.get("created_at") else None,
    }


def event_view(doc: dict[str, Any]) -> ProfileEvent:
    try:
        properties = json.loads(doc.get("properties_json") or "{}")
    except ValueError:
        properties = {}
    stamp = doc.get("timestamp")
    return ProfileEvent(
        event=doc.get("event"),
        type=doc.get("type"),
        properties=properties,
        timestamp=stamp.isoformat().replace("+00:00", "Z") if stamp else None,
        distinct_id=doc.get("distinct_id"),
        message_id=doc.get("message_id"),
        source=doc.get("source"),
    )

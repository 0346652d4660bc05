"""Data rights at identity: everything it keeps about one person, exported a part at a time.

`person.export` answers the person's records (profile, trait history, visitors, distinct
ids, aliases, merged-away ids); `person.export_events` their events oldest first, a page
at a time, so neither side holds a big person's events in memory at once.

`person.delete` publishes the durable `person_deleted` fact (`P.identity.fact.deleted`)
naming every id of the person, merged-away ones included, then erases identity's own
records; chat, mail and webhooks act on the fact (docs/identity.md, "Data rights").
With `suppress`, the person's ids are suppressed first (shared/suppressions.py).
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from services.identity.history import traits_history
from services.identity.profiles import event_view, full_profiles
from services.identity.store import IdentityStore
from shared import clock, suppressions
from shared import cursor as cursors
from shared.bus import Bus
from shared.errors import PermanentError
from shared.events import parse_time
from shared.schema import builtins

EVENTS_PAGE = 200


def family(person: dict[str, Any]) -> list[str]:
    return [person["_id"], *person.get("merged_from", [])]


async def person_records(store: IdentityStore, person: dict[str, Any]) -> dict[str, Any]:
    """The person's records beside its events: what `person.export` answers."""
    ws, ids = person["workspace_id"], family(person)
    dids = await store.dids_of(ws, ids)
    merged = await store.load_persons(ws, person.get("merged_from", []))
    user_ids = sorted({p["user_id"] for p in [person, *merged.values()] if p.get("user_id")})
    aliases = await store.aliases_of(ws, user_ids, [d["distinct_id"] for d in dids])
    profile = (await full_profiles(store, [person]))[0]
    return {
        "profile": builtins(profile),
        "trait_history": builtins(traits_history(person, None)).get("traits", {}),
        "distinct_ids": sorted(
            ({"distinct_id": d["distinct_id"], "visitor_id": d.get("visitor_id")} for d in dids),
            key=lambda d: d["distinct_id"],
        ),
        "aliases": sorted(
            ({"user_id": a["user_id"], "distinct_id": a["distinct_id"]} for a in aliases),
            key=lambda a: (a["user_id"], a["distinct_id"]),
        ),
        "merged_ids": list(person.get("merged_from", [])),
        "user_ids": user_ids,
        "event_count": await store.count_events(ws, ids),
    }


async def events_page(
    store: IdentityStore, person: dict[str, Any], cursor: str | None, limit: int
) -> dict[str, Any]:
    after = _decode(cursor) if cursor else None
    found = await store.events_by_position(person["workspace_id"], family(person), after, limit + 1)
    page = found[:limit]
    next_cursor = None
    if len(found) > limit and page:
        last = page[-1]
        next_cursor = cursors.encode([last["timestamp"].isoformat(), str(last["_id"])])
    return {"events": [builtins(event_view(d)) for d in page], "next_cursor": next_cursor}


def _decode(cursor: str) -> tuple[Any, Any]:
    try:
        stamp, event_id = cursors.decode(cursor)
        moment = parse_time(stamp)
        oid = ObjectId(event_id)
    except (ValueError, TypeError, InvalidId) as exc:
        raise PermanentError("bad cursor", code="invalid") from exc
    if moment is None:
        raise PermanentError("bad cursor", code="invalid")
    return moment, oid


async def delete(
    store: IdentityStore,
    bus: Bus,
    person: dict[str, Any],
    actor: dict[str, Any],
    *,
    suppress: bool = False,
) -> dict[str, Any]:
    """The suppression when asked (before the fact: no event of the person gets in after
    the erase), the fact (durable: a crash after it still gets every service to erase),
    then identity's own erase; the fact, the counts and the suppression are the answer."""
    ws, found = person["workspace_id"], await person_records(store, person)
    dids = [d["distinct_id"] for d in found["distinct_ids"]]
    visitor_ids = sorted({v["id"] for v in found["profile"]["visitors"]})
    fact = {
        "kind": "person_deleted",
        "workspace_id": ws,
        "profile_id": person["_id"],
        "person_ids": family(person),
        "distinct_ids": dids,
        "user_ids": found["user_ids"],
        "visitor_ids": visitor_ids,
        "deleted_at": clock.iso_now(),
        "actor": actor,
    }
    suppression = None
    if suppress:
        named = [*dids, *found["user_ids"], *visitor_ids]
        suppression = suppressions.new(ws, person["_id"], named, actor)
        await suppressions.add(bus, suppression)
    subject = bus.subjects.identity_fact("deleted")
    await bus.publish_durable(subject, fact, f"deleted:{ws}:{person['_id']}")
    ids = {k: fact[k] for k in ("person_ids", "distinct_ids", "user_ids", "visitor_ids")}
    counts = await store.erase(ws, ids)
    return {
        "fact": fact,
        "erased": counts,
        "suppression_id": suppression.id if suppression is not None else None,
    }

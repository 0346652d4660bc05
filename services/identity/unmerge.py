"""Undo a merge: the merged-away profile re-created under its own id (docs/identity.md,
"Undoing a merge").

Phases, each idempotent, so an undo cut short is finished by asking again:
1. check: the merge stands, and nothing later stands on it (last merge first);
2. block: the pair is recorded `do_not_merge` before anything can link them again;
3. home: its distinct ids and visitors go back (their `homes` stacks), then the events
   those visitors brought to the survivor since; the aliases joining its ids to the
   survivor's user id (the undone link) go;
4. revive: the profile rebuilt from its side's events (services/identity/replay.py) and
   live again; the events placed on the survivor meanwhile follow (twice: at once, and
   once more after the in-flight batches settle);
5. survivor: rebuilt from its own side's events, under its version (it keeps moving);
6. tell: the durable `person_unmerged` fact (chat re-points conversations, webhooks
   emit `person.unmerged`, the dashboard audits it), then the `person.unmerged` record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from services.identity.replay import Rebuild, Side, rebuilt, replayed
from services.identity.resolve import MAX_ATTEMPTS, MergeRace, Resolver, Scope
from services.identity.store import IdentityStore, StaleRead, derived_id
from shared import clock, tasks
from shared.bus import Bus
from shared.errors import PermanentError

log = logging.getLogger("parley.identity.unmerge")

_LATE = tasks.BackgroundTasks(log, "an undone merge's late sweep")
SETTLE_SECONDS = 2.0  # events placed on the survivor during the split are recorded by then
Announce = Callable[[set[tuple[str, str]]], Awaitable[None]]


class Refused(PermanentError):
    """The undo would break a later merge: undo that one first (HTTP 409)."""

    code = "conflict"


def _gone() -> PermanentError:
    return PermanentError("no such merge of this profile", code="not_found")


async def _checked(
    store: IdentityStore, resolver: Resolver, ws: str, profile_id: str, merge_id: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Phase 1: (merge, survivor, merged) when the merge may be undone now."""
    if await store.person(ws, profile_id) is None:
        raise PermanentError("no such profile", code="not_found")
    merge = await store.merge_record(ws, merge_id)
    if merge is None:
        raise _gone()
    live = await resolver.live(profile_id, ws)
    family = {live["_id"], *live["merged_from"]}
    sid, mid = merge["survivor_id"], merge["merged_id"]
    if sid not in family and mid not in family:
        raise _gone()
    survivor = await store.person(ws, sid)
    merged = await store.person(ws, mid)
    if survivor is None or merged is None:
        raise _gone()
    if survivor.get("merged_into"):
        later = await store.merge_of(ws, sid)
        name = str(later["_id"]) if later else "of " + sid
        raise Refused(
            f"undo the later merge {name} first: {sid} was merged into {survivor['merged_into']}"
        )
    after = await store.later_merges_into(ws, sid, merge)
    if after:
        raise Refused(
            f"undo the later merge {after[0]['_id']} first: {after[0]['merged_id']} was "
            f"merged into {sid} after this merge"
        )
    if merged.get("merge_pending"):  # a merge a crash cut short: finish it, then undo
        await resolver.finish_merge(merged, Scope(reads=None))
        merged = await store.person(ws, mid) or merged
    if merged.get("merged_into") not in (sid, None):
        raise _gone()
    return merge, survivor, merged


async def _move_events(store: IdentityStore, ws: str, sid: str, mid: str, vids: list[str]) -> int:
    return await store.move_events(ws, sid, mid, vids)


async def _settle_later(store: IdentityStore, ws: str, sid: str, mid: str, vids: list[str]) -> None:
    """The last events of the split-off devices placed on the survivor before the revive
    are recorded within a batch: one more sweep then."""
    await asyncio.sleep(SETTLE_SECONDS)
    try:
        await _move_events(store, ws, sid, mid, vids)
    except Exception:
        log.exception("the late sweep of an undone merge's events failed (%s <- %s)", sid, mid)


def _survivor_stage(merge: dict[str, Any]) -> str | None:
    cause = merge.get("cause") or {}
    side = cause.get("survivor") if isinstance(cause, dict) else None
    return side.get("stage") if isinstance(side, dict) else None


async def undo(
    store: IdentityStore,
    resolver: Resolver,
    bus: Bus,
    announce: Announce,
    ws: str,
    profile_id: str,
    merge_id: str,
    actor: dict[str, Any],
) -> dict[str, Any]:
    """Split the merged-away profile of `merge_id` back out; returns it as stored."""
    merge, survivor, merged = await _checked(store, resolver, ws, profile_id, merge_id)
    sid, mid, at = survivor["_id"], merged["_id"], clock.now()
    await _knows_what_moved(store, ws, sid, mid)
    cause = {
        "merge_id": str(merge["_id"]),
        "rule": "do_not_merge",
        "merge_rule": merge.get("reason"),
    }
    await store.block_pair(ws, sid, mid, at, {**cause, "actor": actor})
    dids, visitors = await _send_home(store, ws, sid, mid)
    vids = sorted(
        {v["_id"] for v in visitors} | {derived_id("v", ws, d["distinct_id"]) for d in dids}
    )
    await _move_events(store, ws, sid, mid, vids)
    moved = [d["distinct_id"] for d in dids]
    own_users = [d["distinct_id"] for d in dids if d.get("kind") == "user"]
    await store.drop_links(ws, moved, [*own_users, *filter(None, [merged["user_id"]])])
    m_family = [mid, *merged["merged_from"]]
    fresh_m, side_m = await replayed(mid, ws, store.replay_events(ws, m_family))
    side_m.emails |= set(merged["emails"])
    s_family = [sid, *sorted(set(survivor["merged_from"]) - set(m_family))]
    fresh_s, side_s = await replayed(sid, ws, store.replay_events(ws, s_family))
    revived = rebuilt(
        fresh_m,
        side_m,
        side_s,
        Rebuild(merged, merged["user_id"], merged["merged_from"], True, merged["stage"]),
    )
    if merged.get("merged_into"):
        await store.revive_person(revived, sid)
    await _move_events(store, ws, sid, mid, vids)
    _LATE.start(_settle_later(store, ws, sid, mid, vids), key=(ws, mid))
    await _rebuild_survivor(store, ws, merge, fresh_s, side_s, side_m, set(m_family), merged)
    fact = {
        "kind": "person_unmerged",
        "workspace_id": ws,
        "profile_id": mid,
        "survivor_id": sid,
        "merge_id": str(merge["_id"]),
        "distinct_ids": sorted(d["distinct_id"] for d in dids),
        "visitor_ids": vids,
        "unmerged_at": clock.iso(at),
        "actor": actor,
    }
    await bus.publish_durable(
        bus.subjects.identity_fact("unmerged"), fact, f"unmerged:{ws}:{merge['_id']}"
    )
    await store.record_unmerge(
        merge, {"undone_at": at, "undone_by": actor, "distinct_ids": fact["distinct_ids"]}
    )
    await announce({(ws, sid), (ws, mid)})
    stored = await store.person(ws, mid)
    if stored is None:  # pragma: no cover - a person is never deleted by an undo
        raise _gone()
    return stored


async def _knows_what_moved(store: IdentityStore, ws: str, sid: str, mid: str) -> None:
    """A merge made before the `homes` stacks left no trace of what it moved: refused
    before anything changes (a retry finds them home already)."""
    dids, visitors = await store.returning(ws, sid, mid)
    if dids or visitors or await store.dids_of(ws, [mid], 1):
        return
    raise Refused(
        "this merge was made before Parley kept what a merge moved: it cannot be undone "
        "automatically"
    )


async def _send_home(
    store: IdentityStore, ws: str, sid: str, mid: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Phase 3: what the merge took from `mid` (read first: the answer names it)."""
    dids, visitors = await store.returning(ws, sid, mid)
    await store.send_home(ws, sid, mid)
    if not dids and not visitors:  # a retry after a cut: they went home already
        dids = await store.dids_of(ws, [mid])
        visitors = await store.visitors_of(ws, [mid])
    return dids, visitors


async def _rebuild_survivor(
    store: IdentityStore,
    ws: str,
    merge: dict[str, Any],
    fresh: dict[str, Any],
    mine: Side,
    other: Side,
    m_family: set[str],
    merged: dict[str, Any],
) -> None:
    """Phase 5: the survivor without the other side, under its version (events keep
    landing on it: a StaleRead reads it again)."""
    sid = merge["survivor_id"]
    for _ in range(MAX_ATTEMPTS):
        now = await store.load_person(sid, ws)
        user_id = now["user_id"] if now["user_id"] != merged["user_id"] else None
        plan = Rebuild(
            now,
            user_id,
            [p for p in now["merged_from"] if p not in m_family],
            False,
            _survivor_stage(merge),
        )
        try:
            await store.save("persons", rebuilt(fresh, mine, other, plan))
        except StaleRead:
            continue
        return
    raise MergeRace(f"survivor {sid} kept changing during an undo")

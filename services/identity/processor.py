"""Applying a batch of events: record them once, place them, update profiles in bulk, announce.

Events that name a new id or a second id (identify, alias, email, first events of
a device) go one by one through the resolver, in stream order. The rest (page
views and tracks of known ids, the bulk of traffic) are grouped: one look-up of
their distinct ids, one read of their persons and visitors, the changes applied
in memory, one versioned bulk write each; a person someone else changed meanwhile
is redone through the resolver. Every change is idempotent, so a redelivered
batch or a redo never double-counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.identity.companies import apply_company, new_company
from services.identity.enrich import GeoIP, host_of
from services.identity.interpret import Plan, event_time, plan_for
from services.identity.model import (
    apply_change,
    apply_visit,
    changed,
    new_person,
    new_visitor,
    shown_changed,
    stage_rank,
    summary,
)
from services.identity.resolve import Resolver, Scope
from services.identity.store import IdentityStore, StaleRead
from shared import clock
from shared.bus import Bus
from shared.events import IngestEvent, ProfileMerged, parse_time

log = logging.getLogger("parley.identity.processor")

SIMPLE_KINDS = ("track", "page", "screen", "group")
CHAIN_CONCURRENCY = 16
COMPANY_ATTEMPTS = 8


@dataclass
class Item:
    event: IngestEvent
    plan: Plan


@dataclass(frozen=True)
class Applied:
    """Where an applied event landed (what its event record stores)."""

    workspace_id: str
    message_id: str
    person_id: str
    visitor_id: str | None


@dataclass(frozen=True)
class Route:
    """A grouped event's distinct-id record and the live person it belongs to."""

    did: dict[str, Any]
    person: dict[str, Any]

    @property
    def visitor_id(self) -> str:
        return str(self.did["visitor_id"])


class Processor:
    def __init__(
        self,
        store: IdentityStore,
        bus: Bus,
        workspaces: Any,
        geoip: GeoIP,
        max_ids: int = 500,
    ) -> None:
        self.store = store
        self.bus = bus
        self.workspaces = workspaces
        self.geoip = geoip
        self.resolver = Resolver(store, self._announce_merge, max_ids)
        self.applied = 0  # events this worker applied (tests and benchmarks read it)

    # --- validation (PermanentError: dead letter) -------------------------------------
    def prepare(self, payload: dict[str, Any]) -> Item:
        event = IngestEvent.from_dict(payload)
        return Item(event, plan_for(event, self.geoip, self._own_hosts(event.workspace_id)))

    def _own_hosts(self, workspace_id: str) -> set[str]:
        workspace = self.workspaces.get(workspace_id) if self.workspaces else None
        origins = workspace.allowed_origins if workspace else []
        return {h for h in (host_of(o) for o in origins) if h}

    # --- the batch --------------------------------------------------------------------
    async def process(self, items: list[Item]) -> None:
        """Apply new events; a record is stored only once its event is applied, so a
        crash in between re-applies it on redelivery (harmless: changes are idempotent)."""
        unique: dict[tuple[str, str], Item] = {}
        for item in items:
            unique.setdefault((item.event.workspace_id, item.event.message_id), item)
        seen = await self.store.seen_events(unique)
        todo = [item for key, item in unique.items() if key not in seen]
        simple: list[Item] = []
        single: list[Item] = []
        for item in todo:
            plan = item.plan
            is_simple = (
                item.event.kind in SIMPLE_KINDS
                and plan.other is None
                and not plan.target_is_user
                and not plan.change.email
            )
            (simple if is_simple else single).append(item)
        touched: set[tuple[str, str]] = set()
        written: dict[str, dict[str, Any]] = {}  # persons as the grouped write stored them
        # a group's company does not depend on its person's write: side by side
        done, _ = await asyncio.gather(
            self._apply_chains(single, touched), self._write_companies(todo)
        )
        done.extend(await self._apply_grouped(simple, touched, written))
        where = {(a.workspace_id, a.message_id): (a.person_id, a.visitor_id) for a in done}
        records = [_record(i, *where[(i.event.workspace_id, i.event.message_id)]) for i in todo]
        # both after every change landed, independent of each other
        await asyncio.gather(
            self.store.record_events(records), self.announce_changes(touched, written)
        )
        self.applied += len(done)

    async def _apply_chains(
        self, items: list[Item], touched: set[tuple[str, str]]
    ) -> list[Applied]:
        """Events sharing an id run in stream order; unrelated chains run side by side
        (they are as safe together as on two workers, and the database waits overlap)."""
        chains: dict[tuple[str, str], list[Item]] = {}
        root: dict[tuple[str, str], tuple[str, str]] = {}

        def find(key: tuple[str, str]) -> tuple[str, str]:
            while root.setdefault(key, key) != key:
                key = root[key]
            return key

        for item in items:
            ws, plan = item.event.workspace_id, item.plan
            keys = [(ws, plan.target)] + ([(ws, plan.other)] if plan.other else [])
            first = find(keys[0])
            for key in keys[1:]:
                root[find(key)] = first
        for item in items:
            chains.setdefault(find((item.event.workspace_id, item.plan.target)), []).append(item)
        gate = asyncio.Semaphore(CHAIN_CONCURRENCY)
        done: list[Applied] = []

        async def run(chain: list[Item]) -> set[tuple[str, str]]:
            changed_here: set[tuple[str, str]] = set()  # this chain's own
            async with gate:
                for item in chain:
                    scope = Scope(touched=changed_here)  # fresh reads for each event
                    done.append(await self.apply_one(item, scope))
            return changed_here

        for changed_here in await asyncio.gather(*(run(chain) for chain in chains.values())):
            touched |= changed_here
        return done

    async def _write_companies(self, items: list[Item]) -> None:
        """Every group call's company, one read and one versioned bulk write for the batch;
        a company someone else wrote meanwhile is read again and redone (the trait order
        makes a redo harmless)."""
        writes = [(i.event.workspace_id, i.plan.company) for i in items if i.plan.company]
        for _ in range(COMPANY_ATTEMPTS):
            if not writes:
                return
            stored: dict[tuple[str, str], dict[str, Any]] = {}
            for ws in sorted({w for w, _ in writes}):
                found = await self.store.load_companies(
                    ws, (c.group_id for w, c in writes if w == ws)
                )
                stored.update({(ws, gid): doc for gid, doc in found.items()})
            after: dict[tuple[str, str], dict[str, Any]] = {}
            for ws, company in writes:
                key = (ws, company.group_id)
                base = after.get(key) or stored.get(key)
                if base is None:
                    cid = self.store.company_id(ws, company.group_id)
                    base = new_company(cid, ws, company.group_id, clock.now())
                after[key] = apply_company(base, company.change)
            dirty = [d for k, d in after.items() if k not in stored or changed(stored[k], d)]
            failed = await self.store.save_many("companies", dirty)
            writes = [(w, c) for w, c in writes if self.store.company_id(w, c.group_id) in failed]
        raise StaleRead(f"companies still contended after {COMPANY_ATTEMPTS} attempts")

    async def apply_one(self, item: Item, scope: Scope) -> Applied:
        """One event through the resolver; the persons it changed go to `scope.touched`."""
        ws, plan = item.event.workspace_id, item.plan
        resolver = self.resolver
        person_id, visitor_id = await resolver.place(ws, plan, scope)
        person_id, new_email = await resolver.update_person(person_id, ws, plan.change, scope)
        await resolver.update_visitor(visitor_id, ws, person_id, plan.device, plan.visit, scope)
        if new_email and plan.change.email:
            person_id = await resolver.email_merges(
                ws,
                person_id,
                plan.change.email,
                verified=plan.change.email_trusted,
                message_id=item.event.message_id,
                scope=scope,
                cause=plan.cause,
            )
        return Applied(ws, item.event.message_id, person_id, visitor_id)

    async def _apply_grouped(
        self,
        items: list[Item],
        touched: set[tuple[str, str]],
        written: dict[str, dict[str, Any]],
    ) -> list[Applied]:
        """Simple events (one anonymous id, no email) in bulk: read, write persons and
        visitors, then redo one by one whatever lost a race."""
        if not items:
            return []
        scope = Scope(reads=None, touched=touched)  # the bulk reads are its cache
        routes = await self._route(items, scope)
        # two collections, no order between them: their round trips overlap
        failed_persons, failed_visitors = await asyncio.gather(
            self._write_persons(items, routes, touched, written),
            self._write_visitors(items, routes),
        )
        done = []
        for item in items:
            ws, route = item.event.workspace_id, routes[id(item)]
            pid = route.person["_id"]
            if pid in failed_persons:
                pid, _ = await self.resolver.update_person(pid, ws, item.plan.change, scope)
            if route.visitor_id in failed_visitors:
                await self.resolver.update_visitor(
                    route.visitor_id, ws, pid, item.plan.device, item.plan.visit, scope
                )
            done.append(Applied(ws, item.event.message_id, pid, route.visitor_id))
        return done

    async def _route(self, items: list[Item], scope: Scope) -> dict[int, Route]:
        """Each item's distinct-id record (made for new devices) and its live person."""
        keys = {(i.event.workspace_id, i.plan.target) for i in items}
        known = await self.store.find_dids_many(keys)
        known.update(await self.store.create_dids(sorted(keys - set(known))))  # new devices
        dids = {id(i): known[(i.event.workspace_id, i.plan.target)] for i in items}
        persons = await self.store.load_persons_many(
            (d["workspace_id"], d["person_id"]) for d in dids.values()
        )
        # not stored yet: a new person (a race to create it fails its insert, then it is
        # redone); a person merged away is followed one by one
        live: dict[str, dict[str, Any]] = {}
        for doc in dids.values():
            pid, ws = doc["person_id"], doc["workspace_id"]
            if pid not in live:
                found = persons.get(pid) or new_person(pid, ws, clock.now())
                if found.get("merged_into"):
                    found = await self.resolver.live(pid, ws, scope)
                live[pid] = found
        return {key: Route(doc, live[doc["person_id"]]) for key, doc in dids.items()}

    async def _write_persons(
        self,
        items: list[Item],
        routes: dict[int, Route],
        touched: set[tuple[str, str]],
        written: dict[str, dict[str, Any]],
    ) -> set[str]:
        """Every item's change on its person, one versioned write a person; the ids of
        those someone else changed meanwhile. A new person, or one whose shown fields
        changed (not just its activity), is to be announced, from the copy written."""
        originals = {r.person["_id"]: r.person for r in routes.values()}
        after = dict(originals)
        for item in items:
            pid = routes[id(item)].person["_id"]
            after[pid] = apply_change(after[pid], item.plan.change)
        dirty = [
            p
            for pid, p in after.items()
            if not originals[pid]["version"] or changed(originals[pid], p)
        ]
        failed = await self.store.save_many("persons", dirty)
        for person in dirty:
            pid, before = person["_id"], originals[person["_id"]]
            if pid in failed:
                continue
            written[pid] = {**person, "version": person["version"] + 1}
            if not before["version"] or shown_changed(before, person):
                touched.add((person["workspace_id"], pid))
        return failed

    async def _write_visitors(self, items: list[Item], routes: dict[int, Route]) -> set[str]:
        """Every item's visit on its visitor, one versioned write a visitor; the ids of
        those someone else changed meanwhile."""
        visitors = await self.store.load_visitors_many(
            (r.did["workspace_id"], r.visitor_id) for r in routes.values()
        )
        after: dict[str, dict[str, Any]] = {}
        for item in items:
            route = routes[id(item)]
            vid = route.visitor_id
            base = after.get(vid) or visitors.get(vid)
            if base is None:
                ws, pid = route.did["workspace_id"], route.person["_id"]
                base = new_visitor(vid, ws, pid, item.plan.device, clock.now())
            after[vid] = apply_visit(base, item.plan.visit)
        dirty = []
        for vid, visitor in after.items():
            before = visitors.get(vid)
            if before is None:
                pid, ws = visitor["person_id"], visitor["workspace_id"]
                before = new_visitor(vid, ws, pid, visitor["distinct_id"], visitor["created_at"])
            if changed(before, visitor):
                dirty.append(visitor)
        return await self.store.save_many("visitors", dirty)

    async def finish_pending(self, claimed_before: datetime | None = None) -> int:
        """Finish merges a crashed worker left claimed; announce the profiles they changed."""
        scope = Scope(reads=None)
        finished = await self.resolver.finish_pending(scope, claimed_before=claimed_before)
        if finished:
            await self.announce_changes(scope.touched)
        return finished

    # --- facts and live frames ----------------------------------------------------------
    async def _announce_merge(self, ws: str, survivor: str, merged: str, reason: str) -> None:
        fact = ProfileMerged(ws, survivor, merged, clock.iso_now(), reason)
        subjects = self.bus.subjects
        await self.bus.publish_durable(
            subjects.identity_fact("merged"), fact.to_dict(), f"merged:{ws}:{merged}"
        )

    async def announce_changes(
        self, touched: set[tuple[str, str]], written: dict[str, dict[str, Any]] | None = None
    ) -> None:
        """Publish `promoted` facts and live frames for these (workspace, person) ids, and
        for those a request changed meanwhile. `written`: persons as this worker just
        stored them (not read again; a later write of someone else's announces itself)."""
        touched = touched | self.resolver.take_unannounced()
        if not touched:
            return
        known = written or {}
        persons = {pid: known[pid] for _, pid in touched if pid in known}
        persons.update(await self.store.load_persons_many(k for k in touched if k[1] not in known))
        live = [p for p in persons.values() if not p.get("merged_into")]
        ids: dict[str, list[str]] = {}
        for ws in sorted({p["workspace_id"] for p in live}):
            pids = [p["_id"] for p in live if p["workspace_id"] == ws]
            for doc in await self.store.dids_of(ws, pids):
                ids.setdefault(doc["person_id"], []).append(doc["distinct_id"])
        for person in live:
            ws, pid = person["workspace_id"], person["_id"]
            if stage_rank(person["stage"]) > stage_rank(person.get("stage_announced")):
                fact = {
                    "workspace_id": ws,
                    "profile_id": pid,
                    "stage": person["stage"],
                    "at": clock.iso_now(),
                }
                await self.bus.publish_durable(
                    self.bus.subjects.identity_fact("promoted"),
                    fact,
                    f"promoted:{ws}:{pid}:{person['stage']}",
                )
                await self.store.mark_stage_announced(person)
            frame = {
                "type": "profile.updated",
                "profile": {
                    **summary(person),
                    "distinct_ids": sorted(ids.get(pid, []))[:100],
                    "merged_from": person["merged_from"][:100],
                },
            }
            await self.bus.publish(self.bus.subjects.live_agents(ws), frame)


def _record(item: Item, person_id: str, visitor_id: str | None) -> dict[str, Any]:
    ev = item.event
    body = ev.traits if ev.kind in ("identify", "group") else ev.properties
    if ev.kind == "email":
        body = {"email": item.plan.change.email}
    return {
        "workspace_id": ev.workspace_id,
        "message_id": ev.message_id,
        "type": ev.kind,
        "event": item.plan.label,
        "properties_json": json.dumps(body, separators=(",", ":"), default=str)[:40_000],
        "timestamp": parse_time(event_time(ev)),
        "received_at": parse_time(ev.received_at) or clock.now(),
        "source": ev.source,
        "trusted": ev.trusted,  # an undo's replay tells a verified email (replay.py)
        "distinct_id": ev.distinct_id if ev.trusted else (ev.anonymous_id or ev.distinct_id),
        "person_id": person_id,
        "visitor_id": visitor_id,
    }

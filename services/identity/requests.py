"""Request/reply: profiles for the gateway's profiles API, the dashboard and chat.

Every request names its workspace; ids are checked for type and size before they
reach a query. A merged-away profile id answers with its survivor.
"""

from __future__ import annotations

from typing import Any, TypeVar

from services.identity import rights, unmerge
from services.identity.history import merge_history, refusal_view, traits_history
from services.identity.model import summary, summary_of
from services.identity.profiles import company_summary, event_view, full_profiles
from services.identity.resolve import Resolver
from services.identity.store import IdentityStore
from services.identity.store.companies import PEOPLE_PAGE
from shared import cursor as cursors
from shared.bus import Bus
from shared.errors import PermanentError
from shared.events import parse_time
from shared.identifiers import normalize_email
from shared.schema import builtins
from shared.schema import identity_requests as rq
from shared.schema.history import ReviewList
from shared.schema.profiles import (
    Company,
    EventList,
    ProfileList,
    ProfileSummaries,
    ProfileSummary,
)
from shared.schema.requests import read_request

MAX_MATCHES = 1000  # profiles a search prefix may match before it is too broad
R = TypeVar("R", bound=rq.IdentityRequest)


def _read(payload: Any, shape: type[R]) -> R:
    return read_request(rq.without_blanks(payload), shape, lax=True)


class Requests:
    def __init__(
        self,
        store: IdentityStore,
        resolver: Resolver,
        workspaces: Any,
        bus: Bus | None = None,
        announce: unmerge.Announce | None = None,
    ) -> None:
        self.bus = bus
        self.announce = announce
        self.store = store
        self.resolver = resolver
        self.workspaces = workspaces

    async def serve(self, bus: Bus) -> None:
        self.bus = bus
        for verb, handler in (
            ("profile.resolve", self.resolve),
            ("profile.get", self.get),
            ("profile.find", self.find),
            ("profile.search", self.search),
            ("profile.events", self.events),
            ("profile.summaries", self.summaries),
            ("profile.merges", self.merges),
            ("profile.trait_history", self.trait_history),
            ("profile.merge_reviews", self.merge_reviews),
            ("company.get", self.company),
            ("person.export", self.export),
            ("person.export_events", self.export_events),
            ("person.delete", self.delete),
            ("profile.unmerge", self.unmerge),
        ):
            await bus.serve(bus.subjects.request("identity", verb), handler)

    def _workspace(self, request: rq.IdentityRequest) -> str:
        ws = request.workspace_id
        if self.workspaces is not None and self.workspaces.get(ws) is None:
            raise PermanentError("unknown workspace", code="not_found")
        return ws

    async def _by_distinct_id(self, ws: str, distinct_id: str) -> dict[str, Any] | None:
        found = await self.store.find_dids(ws, [distinct_id])
        if distinct_id not in found:
            return None
        return await self.resolver.live(found[distinct_id]["person_id"], ws)

    async def _by_profile_id(self, ws: str, profile_id: str) -> dict[str, Any] | None:
        doc = await self.store.person(ws, profile_id)
        if doc is None:
            return None
        return await self.resolver.live(profile_id, ws) if doc.get("merged_into") else doc

    # --- handlers -----------------------------------------------------------------------
    async def resolve(self, payload: Any) -> dict[str, Any] | None:
        p = _read(payload, rq.Resolve)
        ws = self._workspace(p)
        person = await self._by_distinct_id(ws, p.distinct_id)
        return summary(person) if person else None

    async def get(self, payload: Any) -> Any:
        p = _read(payload, rq.Get)
        person = await self._by_profile_id(self._workspace(p), p.profile_id)
        if person is None:
            raise PermanentError("no such profile", code="not_found")
        return builtins((await full_profiles(self.store, [person]))[0])

    async def find(self, payload: Any) -> Any:
        p = _read(payload, rq.Find)
        ws = self._workspace(p)
        user_id, distinct_id, email_given = p.user_id, p.distinct_id, p.email
        persons: dict[str, dict[str, Any]] = {}
        for did in (user_id, distinct_id):
            if did and (person := await self._by_distinct_id(ws, did)):
                if did != user_id or person["user_id"] == user_id:
                    persons[person["_id"]] = person
        if user_id:
            for person in await self.store.persons_with_user_id(ws, user_id, 50):
                if not person.get("merged_into"):
                    persons[person["_id"]] = person
        if email_given:
            email = normalize_email(email_given)
            if email is None:
                raise PermanentError("email is not a valid address", code="invalid")
            for person in await self.store.persons_with_email(ws, email, 100):
                if not person.get("merged_into"):
                    persons[person["_id"]] = person
        ordered = sorted(persons.values(), key=lambda p: (p["created_at"], p["_id"]))
        return builtins(ProfileList(profiles=await full_profiles(self.store, ordered)))

    async def search(self, payload: Any) -> Any:
        """Newest seen first. A `q` prefix is answered from the search-key index (a range,
        not a regex: SecantusDB scans for a regex) and ordered here; without one, the
        workspace's live profiles are sorted by the server."""
        p = _read(payload, rq.Search)
        ws = self._workspace(p)
        limit, stage = p.page_size(), p.stage
        after = _decode(p.cursor) if p.cursor else None
        q = (p.q or "").strip().lower()[:100]
        if q:
            found = await self.store.persons_with_prefix(ws, q, MAX_MATCHES)
            live = {p["_id"]: p for p in found if not p.get("merged_into")}
            rows = [p for p in live.values() if not stage or p["stage"] == stage]
            rows.sort(key=_order, reverse=True)
            if after is not None:
                rows = [p for p in rows if _order(p) < after]
            page = rows[: limit + 1]
        else:
            page = await self.store.live_persons_page(ws, stage, after, limit + 1)
        more = len(page) > limit
        page = page[:limit]
        next_cursor = _cursor(page[-1]) if more and page else None
        found_page = await full_profiles(self.store, page)
        return builtins(ProfileList(profiles=found_page, next_cursor=next_cursor))

    async def events(self, payload: Any) -> Any:
        p = _read(payload, rq.Events)
        ws = self._workspace(p)
        person = await self._by_profile_id(ws, p.profile_id)
        if person is None:
            raise PermanentError("no such profile", code="not_found")
        moment = parse_time(p.before) if p.before else None
        family = [person["_id"], *person["merged_from"]]
        found = await self.store.events_page(ws, family, moment, p.page_size())
        events = [event_view(d) for d in found]
        return builtins(EventList(profile_id=person["_id"], events=events))

    async def merges(self, payload: Any) -> Any:
        """MergeHistory: how the profile came to be (a merged-away id: its survivor's)."""
        p = _read(payload, rq.Merges)
        person = await self._by_profile_id(self._workspace(p), p.profile_id)
        if person is None:
            raise PermanentError("no such profile", code="not_found")
        return builtins(await merge_history(self.store, person))

    async def trait_history(self, payload: Any) -> Any:
        """TraitHistory: a trait's recent values (or every trait's), newest first."""
        p = _read(payload, rq.TraitHistory)
        person = await self._by_profile_id(self._workspace(p), p.profile_id)
        if person is None:
            raise PermanentError("no such profile", code="not_found")
        return builtins(traits_history(person, p.name))

    async def _person(self, p: rq.Export | rq.Delete) -> dict[str, Any]:
        person = await self._by_profile_id(self._workspace(p), p.profile_id)
        if person is None:
            raise PermanentError("no such profile", code="not_found")
        return person

    async def export(self, payload: Any) -> Any:
        """Everything identity keeps about the person but its events (services/identity/rights.py)."""
        return await rights.person_records(
            self.store, await self._person(_read(payload, rq.Export))
        )

    async def export_events(self, payload: Any) -> Any:
        """The person's events oldest first, a page a time: {events, next_cursor}."""
        p = _read(payload, rq.Export)
        limit = min(p.limit or rights.EVENTS_PAGE, rq.MAX_LIMIT)
        return await rights.events_page(self.store, await self._person(p), p.cursor, limit)

    async def delete(self, payload: Any) -> Any:
        """Erase the person everywhere (the fact) and here: {fact, erased}."""
        p = _read(payload, rq.Delete)
        assert self.bus is not None, "serve() was given the bus"
        person = await self._person(p)
        actor = {"kind": p.actor_kind, "id": p.actor_id, "email": p.actor_email}
        return await rights.delete(self.store, self.bus, person, actor, suppress=p.suppress)

    async def unmerge(self, payload: Any) -> Any:
        """The merge undone: the re-created profile, as `profile.get` answers it
        (services/identity/unmerge.py; not_found, or conflict with the merge to undo first)."""
        p = _read(payload, rq.Unmerge)
        assert self.bus is not None, "serve() was given the bus"
        actor = {"kind": p.actor_kind, "id": p.actor_id, "email": p.actor_email}
        announce = self.announce or _no_announce
        person = await unmerge.undo(
            self.store,
            self.resolver,
            self.bus,
            announce,
            self._workspace(p),
            p.profile_id,
            p.merge_id,
            actor,
        )
        return builtins((await full_profiles(self.store, [person]))[0])

    async def merge_reviews(self, payload: Any) -> Any:
        """ReviewList: merges the distinct-id limit held back, newest first."""
        p = _read(payload, rq.Reviews)
        found = await self.store.reviews(self._workspace(p), p.page_size())
        limit = self.resolver.max_ids
        return builtins(ReviewList(limit=limit, reviews=[refusal_view(d) for d in found]))

    async def company(self, payload: Any) -> Any:
        """Company: a company (by group id) with a page of its live people, by profile id."""
        p = _read(payload, rq.CompanyGet)
        ws = self._workspace(p)
        doc = (await self.store.load_companies(ws, [p.company_id])).get(p.company_id)
        if doc is None:
            raise PermanentError("no such company", code="not_found")
        after = _after_person(p.cursor) if p.cursor else None
        size = min(p.page_size(), PEOPLE_PAGE)
        people = await self.store.company_people(ws, p.company_id, after, size + 1)
        more = len(people) > size
        people = people[:size]
        shown = company_summary(doc, await self.store.count_people(ws, p.company_id))
        return builtins(
            Company(
                id=shown.id,
                traits={k: v for k, v in doc["traits"].items() if v is not None},
                people_count=shown.people_count,
                people=[summary_of(person) for person in people],
                name=shown.name,
                plan=shown.plan,
                website=shown.website,
                first_seen=doc.get("first_seen"),
                last_seen=doc.get("last_seen"),
                created_at=doc["created_at"].isoformat() if doc.get("created_at") else None,
                next_cursor=cursors.encode([people[-1]["_id"]]) if more and people else None,
            )
        )

    async def summaries(self, payload: Any) -> dict[str, Any]:
        """ProfileSummaries: each asked profile id and distinct id to a summary or null."""
        p = _read(payload, rq.Summaries)
        ws = self._workspace(p)
        ids, distinct_ids = p.ids or [], p.distinct_ids or []
        stored = await self.store.load_persons(ws, ids)
        profiles: dict[str, ProfileSummary | None] = {}
        for pid in ids:
            person = stored.get(pid)
            if person and person["workspace_id"] == ws and person.get("merged_into"):
                person = await self.resolver.live(pid, ws)
            ok = person is not None and person["workspace_id"] == ws
            profiles[pid] = summary_of(person) if person is not None and ok else None
        by_did: dict[str, ProfileSummary | None] = {}
        found = await self.store.find_dids(ws, distinct_ids)
        people = await self.store.load_persons(ws, (d["person_id"] for d in found.values()))
        for did in distinct_ids:
            doc = found.get(did)
            person = people.get(doc["person_id"]) if doc else None
            if person is not None and person.get("merged_into"):
                person = await self.resolver.live(person["_id"], ws)
            by_did[did] = summary_of(person) if person else None
        return builtins(ProfileSummaries(profiles=profiles, distinct_ids=by_did))


async def _no_announce(touched: set[tuple[str, str]]) -> None:
    """Without a processor (tests of the verbs alone) nothing is announced."""


def _order(person: dict[str, Any]) -> tuple[str, str]:
    return (person.get("last_seen") or "", person["_id"])


def _cursor(person: dict[str, Any]) -> str:
    return cursors.encode([person.get("last_seen"), person["_id"]])


def _decode(cursor: str) -> tuple[str, str]:
    try:
        last_seen, pid = cursors.decode(cursor)
    except (ValueError, TypeError) as exc:
        raise PermanentError("bad cursor", code="invalid") from exc
    if not isinstance(pid, str) or not (last_seen is None or isinstance(last_seen, str)):
        raise PermanentError("bad cursor", code="invalid")
    return (last_seen or "", pid)


def _after_person(cursor: str) -> str:
    try:
        (pid,) = cursors.decode(cursor)
    except (ValueError, TypeError) as exc:
        raise PermanentError("bad cursor", code="invalid") from exc
    if not isinstance(pid, str):
        raise PermanentError("bad cursor", code="invalid")
    return pid

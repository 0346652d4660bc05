"""Request/reply: profiles for the gateway's profiles API, the dashboard and chat.

Every request names its workspace; ids are checked for type and size before they
reach a query. A merged-away profile id answers with its survivor.
"""

from __future__ import annotations

from typing import Any

from services.identity.model import STAGES, summary
from services.identity.profiles import event_view, full_profiles
from services.identity.resolve import Resolver
from services.identity.store import IdentityStore
from shared import cursor as cursors
from shared.bus import Bus
from shared.errors import PermanentError
from shared.events import parse_time
from shared.identifiers import normalize_email

MAX_BULK = 200
MAX_LIMIT = 200
MAX_MATCHES = 1000  # profiles a search prefix may match before it is too broad


def _text(payload: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = payload.get(name)
    if value is None or value == "":
        if required:
            raise PermanentError(f"{name} is required", code="invalid")
        return None
    if not isinstance(value, str) or len(value) > 300:
        raise PermanentError(f"{name} must be a string of at most 300 characters", code="invalid")
    return value


def _limit(payload: dict[str, Any], default: int) -> int:
    value = payload.get("limit", default)
    if value is None:
        return default
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PermanentError("limit must be a positive integer", code="invalid")
    return min(value, MAX_LIMIT)


def _id_list(payload: dict[str, Any], name: str) -> list[str]:
    values = payload.get(name) or []
    if not isinstance(values, list) or len(values) > MAX_BULK:
        raise PermanentError(f"{name} must be a list of at most {MAX_BULK} ids", code="invalid")
    return [v for v in values if isinstance(v, str) and 0 < len(v) <= 300]


class Requests:
    def __init__(self, store: IdentityStore, resolver: Resolver, workspaces: Any) -> None:
        self.store = store
        self.resolver = resolver
        self.workspaces = workspaces

    async def serve(self, bus: Bus) -> None:
        for verb, handler in (
            ("profile.resolve", self.resolve),
            ("profile.get", self.get),
            ("profile.find", self.find),
            ("profile.search", self.search),
            ("profile.events", self.events),
            ("profile.summaries", self.summaries),
        ):
            await bus.serve(bus.subjects.request("identity", verb), handler)

    def _workspace(self, payload: dict[str, Any]) -> str:
        ws = _text(payload, "workspace_id", required=True)
        assert ws is not None
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
    async def resolve(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        ws = self._workspace(payload)
        distinct_id = _text(payload, "distinct_id", required=True)
        assert distinct_id is not None
        person = await self._by_distinct_id(ws, distinct_id)
        return summary(person) if person else None

    async def get(self, payload: dict[str, Any]) -> dict[str, Any]:
        ws = self._workspace(payload)
        profile_id = _text(payload, "profile_id", required=True)
        assert profile_id is not None
        person = await self._by_profile_id(ws, profile_id)
        if person is None:
            raise PermanentError("no such profile", code="not_found")
        return (await full_profiles(self.store, [person]))[0]

    async def find(self, payload: dict[str, Any]) -> dict[str, Any]:
        ws = self._workspace(payload)
        user_id, distinct_id = _text(payload, "user_id"), _text(payload, "distinct_id")
        email_given = _text(payload, "email")
        if not (user_id or distinct_id or email_given):
            raise PermanentError("give user_id, email or distinct_id", code="invalid")
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
        return {"profiles": await full_profiles(self.store, ordered)}

    async def search(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Newest seen first. A `q` prefix is answered from the search-key index (a range,
        not a regex: SecantusDB scans for a regex) and ordered here; without one, the
        workspace's live profiles are sorted by the server."""
        ws = self._workspace(payload)
        limit = _limit(payload, 25)
        stage = _text(payload, "stage")
        if stage and stage not in STAGES:
            raise PermanentError(f"stage must be one of {', '.join(STAGES)}", code="invalid")
        cursor = _text(payload, "cursor")
        after = _decode(cursor) if cursor else None
        q = (_text(payload, "q") or "").strip().lower()[:100]
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
        return {"profiles": await full_profiles(self.store, page), "next_cursor": next_cursor}

    async def events(self, payload: dict[str, Any]) -> dict[str, Any]:
        ws = self._workspace(payload)
        profile_id = _text(payload, "profile_id", required=True)
        assert profile_id is not None
        limit = _limit(payload, 50)
        person = await self._by_profile_id(ws, profile_id)
        if person is None:
            raise PermanentError("no such profile", code="not_found")
        before = _text(payload, "before")
        moment = parse_time(before) if before else None
        if before and moment is None:
            raise PermanentError("before must be an ISO-8601 time", code="invalid")
        family = [person["_id"], *person["merged_from"]]
        found = await self.store.events_page(ws, family, moment, limit)
        return {"profile_id": person["_id"], "events": [event_view(d) for d in found]}

    async def summaries(self, payload: dict[str, Any]) -> dict[str, Any]:
        """{profiles: {asked id: summary|null}, distinct_ids: {asked id: summary|null}}."""
        ws = self._workspace(payload)
        ids = _id_list(payload, "ids")
        distinct_ids = _id_list(payload, "distinct_ids")
        stored = await self.store.load_persons(ws, ids)
        profiles: dict[str, Any] = {}
        for pid in ids:
            person = stored.get(pid)
            if person and person["workspace_id"] == ws and person.get("merged_into"):
                person = await self.resolver.live(pid, ws)
            ok = person is not None and person["workspace_id"] == ws
            profiles[pid] = summary(person) if person is not None and ok else None
        by_did: dict[str, Any] = {}
        found = await self.store.find_dids(ws, distinct_ids)
        people = await self.store.load_persons(ws, (d["person_id"] for d in found.values()))
        for did in distinct_ids:
            doc = found.get(did)
            person = people.get(doc["person_id"]) if doc else None
            if person is not None and person.get("merged_into"):
                person = await self.resolver.live(person["_id"], ws)
            by_did[did] = summary(person) if person else None
        return {"profiles": profiles, "distinct_ids": by_did}


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

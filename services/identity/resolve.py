"""Which person an event belongs to, and merges: PostHog's four branches, made race-safe.

For an event naming a target id and maybe another id (identify: user id + anonymous
id; alias: user id + previous id):
- neither known: one new person holds both;
- one known: the other id joins that person (unless that would give a member a
  second user id: then the new user id gets its own person and a conflict is
  recorded: the shared-browser account switch);
- both on one person: nothing;
- both on two persons: identify/alias from a trusted source merge them, unless
  both have (different) user ids: refused, recorded as a conflict.
The older person (first created) survives. A merge first claims the newer person
(`merged_into`, `merge_pending`) under its version, so it is frozen; then the
survivor absorbs it, ids and visitors are re-pointed and the fact is published.
A claimed merge that was interrupted is finished by whoever meets it next.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.identity.interpret import Cause, Plan
from services.identity.model import Change, absorb, apply_change, apply_visit, changed
from services.identity.store import IdentityStore, StaleRead, derived_id
from shared import clock

log = logging.getLogger("parley.identity.resolve")

MAX_ATTEMPTS = 12
MAX_CHAIN = 64
MergedCallback = Callable[[str, str, str, str], Awaitable[None]]
_FINISHING: ContextVar[frozenset[str]] = ContextVar("identity_finishing", default=frozenset())


@dataclass
class Scope:
    """What one event's resolution hands down its calls, explicitly: the persons it read
    (each read once: every write is versioned, so a stale copy only costs a StaleRead,
    which clears them) and the persons it changed, for the processor to announce.

    Concurrent chains each have their own; `reads=None` reads through every time."""

    reads: dict[str, dict[str, Any]] | None = field(default_factory=dict)
    touched: set[tuple[str, str]] = field(default_factory=set)

    def forget(self) -> None:
        if self.reads is not None:
            self.reads.clear()


@dataclass(frozen=True)
class Placed:
    """Where an event lands: its person, its visitor, and the target id's record."""

    person_id: str
    visitor_id: str
    target: dict[str, Any]


@dataclass(frozen=True)
class EmailMatch:
    """An email that just came to a person, and what decides whom it joins."""

    ws: str
    email: str
    message_id: str | None
    identified: bool  # a member identified (verified) with it
    member_user_ids: frozenset[str]  # of every person holding it
    cause: Cause | None = None


def side(person: dict[str, Any]) -> dict[str, Any]:
    """A person's state as a merge or conflict record keeps it: what it was before."""
    return {
        "id": person["_id"],
        "stage": person["stage"],
        "user_id": person["user_id"],
        "emails": person["emails"][:10],
    }


def why(cause: Cause | None, rule: str, **more: Any) -> dict[str, Any]:
    """The cause a record keeps: the event (when one caused it), the rule, the sides."""
    return cause.doc(rule, **more) if cause else {"rule": rule, **more}


class MergeRace(Exception):
    """Could not settle an event after many attempts: let the bus retry it later."""


class Resolver:
    def __init__(self, store: IdentityStore, on_merged: MergedCallback, max_ids: int = 500) -> None:
        self.store = store
        self.on_merged = on_merged
        # a merge that would give a person more distinct ids is held for a review
        self.max_ids = max_ids
        # persons changed outside any event (a request that finished a crashed merge):
        # the processor announces them with its next batch (take_unannounced)
        self._unannounced: set[tuple[str, str]] = set()

    def take_unannounced(self) -> set[tuple[str, str]]:
        taken, self._unannounced = self._unannounced, set()
        return taken

    # --- persons, following merges ----------------------------------------------------
    async def _load(self, person_id: str, workspace_id: str, scope: Scope) -> dict[str, Any]:
        """A person read once per event: every write is versioned, so a stale copy can
        only cost a conflict, which clears the copies and reads again."""
        if scope.reads is not None and person_id in scope.reads:
            return scope.reads[person_id]
        person = await self.store.load_person(person_id, workspace_id)
        if scope.reads is not None:
            scope.reads[person_id] = person
        return person

    async def _saved(self, doc: dict[str, Any], scope: Scope) -> dict[str, Any]:
        try:
            stored = await self.store.save("persons", doc)
        except StaleRead:
            scope.forget()
            raise
        if scope.reads is not None:
            scope.reads[stored["_id"]] = stored
        return stored

    async def live(
        self, person_id: str, workspace_id: str, scope: Scope | None = None
    ) -> dict[str, Any]:
        """The person `person_id` is now: itself, or the survivor it was merged into.

        Without a scope (a request, outside any event) nothing is cached, and persons a
        merge finished on the way are left for the processor to announce."""
        if scope is None:
            scope = Scope(reads=None)
            try:
                return await self._live(person_id, workspace_id, scope)
            finally:
                self._unannounced |= scope.touched
        return await self._live(person_id, workspace_id, scope)

    async def _live(self, person_id: str, workspace_id: str, scope: Scope) -> dict[str, Any]:
        visited: set[str] = set()
        for _ in range(MAX_CHAIN):
            if person_id in visited:  # cannot happen while merges go newer -> older
                raise MergeRace(f"merge cycle through {person_id}")
            visited.add(person_id)
            person = await self._load(person_id, workspace_id, scope)
            if not person.get("merged_into"):
                return person
            if person.get("merge_pending"):
                await self.finish_merge(person, scope)
            person_id = person["merged_into"]
        raise MergeRace(f"merge chain from {person_id} too long")

    async def update_person(
        self, person_id: str, workspace_id: str, change: Change, scope: Scope
    ) -> tuple[str, bool]:
        """Apply `change` to the live person; returns its id and whether the change
        brought an email it did not have (or had unverified): then look for matches."""
        for _ in range(MAX_ATTEMPTS):
            person = await self.live(person_id, workspace_id, scope)
            after = apply_change(person, change)
            news = bool(change.email) and (
                change.email not in person["emails"]
                or (change.email_trusted and change.email not in person["trusted_emails"])
            )
            if person["version"] and not changed(person, after):
                return person["_id"], news
            try:
                await self._saved(after, scope)
            except StaleRead:
                continue
            scope.touched.add((workspace_id, after["_id"]))
            return after["_id"], news
        raise MergeRace(f"person {person_id} kept changing")

    async def update_visitor(
        self,
        visitor_id: str,
        workspace_id: str,
        person_id: str,
        distinct_id: str,
        visit: Any,
        scope: Scope,
    ) -> None:
        for _ in range(MAX_ATTEMPTS):
            visitor = await self.store.load_visitor(
                visitor_id, workspace_id, person_id, distinct_id
            )
            after = apply_visit(visitor, visit)
            if not changed(visitor, after):
                return  # nothing seen: a visitor document only once there is something
            try:
                await self.store.save("visitors", after)
            except StaleRead:
                continue
            scope.touched.add((workspace_id, visitor["person_id"]))
            return
        raise MergeRace(f"visitor {visitor_id} kept changing")

    # --- placing an event -------------------------------------------------------------
    async def place(self, workspace_id: str, plan: Plan, scope: Scope) -> tuple[str, str]:
        """(person id, visitor id) the event lands on, after any linking or merging."""
        for _ in range(MAX_ATTEMPTS):
            try:
                placed = await self._place_once(workspace_id, plan, scope)
            except StaleRead:
                continue
            if plan.target_is_user:
                await self.store.settle_visitor(placed.target, placed.visitor_id, plan.change.at)
            return placed.person_id, placed.visitor_id
        raise MergeRace(f"could not place an event for {plan.target}")

    async def create_did(
        self, ws: str, distinct_id: str, is_user: bool, seen_at: str | None = None
    ) -> dict[str, Any]:
        pid, vid = derived_id("p", ws, distinct_id), derived_id("v", ws, distinct_id)
        return await self.store.claim_did(ws, distinct_id, pid, vid, is_user, seen_at)

    async def _join(
        self,
        ws: str,
        distinct_id: str,
        person_id: str,
        visitor_id: str,
        user: bool,
        seen_at: str | None = None,
    ) -> dict[str, Any]:
        doc = await self.store.claim_did(ws, distinct_id, person_id, visitor_id, user, seen_at)
        if doc["person_id"] != person_id:
            raise StaleRead(f"{distinct_id} was claimed meanwhile")
        return doc

    async def _place_once(self, ws: str, plan: Plan, scope: Scope) -> Placed:
        """One try at placing the event: which of its ids are known picks the branch."""
        found = await self.store.find_dids(ws, [plan.target, plan.other or ""])
        target_did = found.get(plan.target)
        if plan.other is None:
            return await self._place_alone(ws, plan, target_did, scope)
        other_did = found.get(plan.other)
        if target_did is None and other_did is None:
            return await self._place_both_new(ws, plan, plan.other, scope)
        if other_did is None:
            assert target_did is not None
            return await self._place_other_joins(ws, plan, plan.other, target_did, scope)
        other_person = await self.live(other_did["person_id"], ws, scope)
        if target_did is None:
            return await self._place_target_joins(
                ws, plan, plan.other, other_did, other_person, scope
            )
        return await self._place_both_known(
            ws, plan, plan.other, target_did, other_did, other_person, scope
        )

    @staticmethod
    def _seen(plan: Plan) -> str | None:
        """When a user id was last seen on a device: only the event's own time counts."""
        return plan.change.at if plan.target_is_user else None

    async def _link_alias(self, ws: str, plan: Plan, other: str) -> None:
        if plan.may_merge and plan.target_is_user:
            await self.store.add_alias(ws, plan.target, other)

    async def _place_alone(
        self, ws: str, plan: Plan, target_did: dict[str, Any] | None, scope: Scope
    ) -> Placed:
        """Only a target id: its own person (new or known)."""
        did = target_did or await self.create_did(
            ws, plan.target, plan.target_is_user, self._seen(plan)
        )
        person_id = (await self.live(did["person_id"], ws, scope))["_id"]
        # a user id named alone was seen on no device but its own
        own = derived_id("v", ws, plan.target) if plan.target_is_user else did["visitor_id"]
        return Placed(person_id, own, did)

    async def _place_both_new(self, ws: str, plan: Plan, other: str, scope: Scope) -> Placed:
        """Neither id known: one new person (named after the other id) holds both."""
        pid, vid = derived_id("p", ws, other), derived_id("v", ws, other)
        did = await self._join(ws, plan.target, pid, vid, plan.target_is_user, self._seen(plan))
        await self._join(ws, other, pid, vid, False)
        await self._link_alias(ws, plan, other)
        return Placed(pid, vid, did)

    async def _place_other_joins(
        self, ws: str, plan: Plan, other: str, target_did: dict[str, Any], scope: Scope
    ) -> Placed:
        """The target is known, the other id is new: it joins the target's person."""
        person = await self.live(target_did["person_id"], ws, scope)
        other_did = await self._join(ws, other, person["_id"], derived_id("v", ws, other), False)
        await self._link_alias(ws, plan, other)
        return Placed(person["_id"], other_did["visitor_id"], target_did)

    async def _place_target_joins(
        self,
        ws: str,
        plan: Plan,
        other: str,
        other_did: dict[str, Any],
        other_person: dict[str, Any],
        scope: Scope,
    ) -> Placed:
        """The other id is known, the target is new: it joins the other's person, unless
        that gives a member a second user id (a shared browser's account switch)."""
        user_id = other_person["user_id"]
        if plan.target_is_user and user_id and user_id != plan.target:
            did = await self.create_did(ws, plan.target, True, self._seen(plan))
            newcomer = {"id": did["person_id"], "stage": "member", "user_id": plan.target}
            await self.store.record_conflict(
                ws,
                kind="account_switch",
                persons=[other_person["_id"], did["person_id"]],
                user_id=plan.target,
                distinct_id=other,
                existing_person=other_person["_id"],
                existing_user_id=user_id,
                message_id=plan.change.message_id,
                cause=why(
                    plan.cause,
                    "account_switch",
                    sides=[side(other_person), {**newcomer, "emails": []}],
                ),
            )
            return Placed(did["person_id"], did["visitor_id"], did)
        did = await self._join(
            ws,
            plan.target,
            other_person["_id"],
            other_did["visitor_id"],
            plan.target_is_user,
            self._seen(plan),
        )
        await self._link_alias(ws, plan, other)
        return Placed(other_person["_id"], other_did["visitor_id"], did)

    async def _place_both_known(
        self,
        ws: str,
        plan: Plan,
        other: str,
        target_did: dict[str, Any],
        other_did: dict[str, Any],
        other_person: dict[str, Any],
        scope: Scope,
    ) -> Placed:
        """Both ids known: nothing if one person, else a merge when the source may merge
        and the two do not hold different user ids (then a recorded conflict)."""
        target_person = await self.live(target_did["person_id"], ws, scope)
        if target_person["_id"] == other_person["_id"]:
            return Placed(other_person["_id"], other_did["visitor_id"], target_did)
        apart = Placed(target_person["_id"], derived_id("v", ws, plan.target), target_did)
        if not plan.may_merge:
            return apart
        if await self._two_members(
            ws,
            "different_user_ids",
            target_person,
            other_person,
            plan.change.message_id,
            cause=plan.cause,
        ):
            return apart
        rule = "alias" if plan.cause and plan.cause.type == "alias" else "identify"
        survivor = await self.merge(
            ws, other_person["_id"], target_person["_id"], rule, scope, plan.cause
        )
        if survivor is None:  # held for a review: the event stays on the target's person
            return apart
        await self._link_alias(ws, plan, other)
        return Placed(survivor, other_did["visitor_id"], target_did)

    async def _two_members(
        self,
        ws: str,
        kind: str,
        a: dict[str, Any],
        b: dict[str, Any],
        message_id: str | None = None,
        cause: Cause | None = None,
        **details: Any,
    ) -> bool:
        """Whether `a` and `b` hold different user ids (two members): then the refusal
        to join them is recorded as a `kind` conflict, with its cause and both sides."""
        users = sorted({a["user_id"], b["user_id"]} - {None})
        if len(users) < 2:
            return False
        await self.store.record_conflict(
            ws,
            kind=kind,
            user_ids=users,
            persons=[a["_id"], b["_id"]],
            message_id=message_id,
            cause=why(cause, kind, sides=[side(a), side(b)], **details),
            **details,
        )
        return True

    # --- merging ----------------------------------------------------------------------
    async def merge(
        self,
        ws: str,
        a_id: str,
        b_id: str,
        reason: str,
        scope: Scope,
        cause: Cause | None = None,
        **more: Any,
    ) -> str | None:
        """Merge two persons; the older survives. Returns the survivor's id, or None when
        the two stay apart: an undone merge recorded them `do_not_merge` (a refused link),
        or the merge would give one person more than `max_ids` distinct ids (held for a
        review, a `too_many_distinct_ids` record).

        The cause (event, rule, both sides as they were) rides on the claim, the write
        that freezes the merged person: no extra round trip, and a crashed merge's
        finisher still knows it."""
        for _ in range(MAX_ATTEMPTS):
            a, b = await self.live(a_id, ws, scope), await self.live(b_id, ws, scope)
            if a["_id"] == b["_id"]:
                return a["_id"]
            fresh = [p for p in (a, b) if p["version"] == 0]
            if fresh:  # only stored persons can be ordered by creation and claimed
                for person in fresh:
                    try:
                        await self._saved(person, scope)
                    except StaleRead:
                        pass
                continue
            survivor, merged = sorted((a, b), key=lambda p: (p["created_at"], p["_id"]))
            cause_doc = why(cause, reason, merged=side(merged), survivor=side(survivor), **more)
            if await self._blocked(ws, survivor, merged, cause_doc):
                return None
            if await self._too_big(ws, survivor, merged, cause_doc):
                return None
            claimed = await self.store.claim_merge(
                merged, survivor["_id"], reason, clock.now(), cause_doc
            )
            scope.forget()
            if not claimed:
                continue
            merged["merged_into"] = survivor["_id"]
            merged["merge_reason"] = reason
            merged["merge_cause"] = cause_doc
            await self.finish_merge(merged, scope)
            return (await self.live(survivor["_id"], ws, scope))["_id"]
        raise MergeRace(f"could not merge {a_id} and {b_id}")

    async def _blocked(
        self, ws: str, survivor: dict[str, Any], merged: dict[str, Any], cause: dict[str, Any]
    ) -> bool:
        """Whether an undone merge recorded the two (or ids merged into them) as
        `do_not_merge`: then the link is refused and recorded like every conflict."""
        families = [[p["_id"], *p["merged_from"]] for p in (survivor, merged)]
        pair = await self.store.blocked(ws, *families)
        if pair is None:
            return False
        kept = {k: v for k, v in cause.items() if k not in ("survivor", "merged")}
        await self.store.record_conflict(
            ws,
            kind="do_not_merge",
            persons=[survivor["_id"], merged["_id"]],
            message_id=cause.get("message_id"),
            cause={
                **kept,
                "rule": "do_not_merge",
                "sides": [cause["survivor"], cause["merged"]],
                "unmerged": (pair.get("cause") or {}).get("merge_id"),
            },
        )
        return True

    async def _too_big(
        self, ws: str, survivor: dict[str, Any], merged: dict[str, Any], cause: dict[str, Any]
    ) -> bool:
        """Whether the two hold more than `max_ids` distinct ids together (one bounded count,
        on merges only); if so the merge is recorded for a review instead."""
        persons = [survivor["_id"], merged["_id"]]
        held = await self.store.count_dids(ws, persons, self.max_ids + 1)
        if held <= self.max_ids:
            return False
        cause = {**cause, "sides": [cause["survivor"], cause["merged"]], "limit": self.max_ids}
        await self.store.hold_for_review(ws, persons, cause, held)
        return True

    async def finish_merge(self, merged: dict[str, Any], scope: Scope) -> None:
        """Idempotent second half of a merge: absorb, re-point, record, publish, unmark."""
        ws, mid = merged["workspace_id"], merged["_id"]
        finishing = _FINISHING.get()
        if mid in finishing:  # only a merge cycle could bring us back here
            raise MergeRace(f"merge cycle through {mid}")
        token = _FINISHING.set(finishing | {mid})
        try:
            await self._finish_merge(merged, ws, mid, scope)
        finally:
            _FINISHING.reset(token)

    async def _finish_merge(self, merged: dict[str, Any], ws: str, mid: str, scope: Scope) -> None:
        for _ in range(MAX_ATTEMPTS):
            survivor = await self.live(merged["merged_into"], ws, scope)
            if mid in survivor["merged_from"]:
                break
            await self._two_members(
                ws, "merge_race_user_ids", survivor, merged, merge=merged.get("merge_cause")
            )
            try:
                await self._saved(absorb(survivor, merged), scope)
            except StaleRead:
                continue
            break
        else:
            raise MergeRace(f"could not absorb {mid}")
        sid = survivor["_id"]
        await self.store.repoint(ws, mid, sid)
        reason = merged.get("merge_reason") or "identify"
        await self.store.record_merge(ws, mid, sid, reason, clock.now(), merged.get("merge_cause"))
        await self.on_merged(ws, sid, mid, reason)
        await self.store.merge_done(ws, mid, sid)
        scope.forget()
        scope.touched.add((ws, sid))

    async def finish_pending(
        self, scope: Scope, limit: int = 50, claimed_before: datetime | None = None
    ) -> int:
        """Complete merges a crashed worker left claimed (run at start and now and then).

        `claimed_before` leaves alone the claims a live worker is probably finishing right
        now (finishing one twice is harmless, only wasted). One that fails is logged and
        retried next time; it does not hold up the rest. Returns how many were finished."""
        pending = await self.store.pending_merges_all_workspaces(limit, claimed_before)
        finished = 0
        for person in pending:
            try:
                await self.finish_merge(person, scope)
                finished += 1
            except Exception:
                log.exception("could not finish the pending merge of %s", person["_id"])
        return finished

    # --- email matches ----------------------------------------------------------------
    async def email_merges(
        self,
        ws: str,
        person_id: str,
        email: str,
        verified: bool = False,
        message_id: str | None = None,
        *,
        scope: Scope,
        cause: Cause | None = None,
    ) -> str:
        """Merge profiles sharing `email`, by the rules; returns the person's id afterwards.

        `verified`: the email just came to `person_id` through verified identification
        (a trusted identify). A member given its email that way takes in the anonymous
        profiles that already hold it (Intercom's lead -> user); an email typed into
        a widget or a chat never joins a member by itself: the lead must hold it
        verified, or the member must be the one being identified with it.
        """
        others = [
            p
            for p in await self.store.persons_with_email(ws, email)
            if p["_id"] != person_id and not p.get("merged_into")
        ]
        if not others:
            return person_id
        person = await self.live(person_id, ws, scope)
        match = EmailMatch(
            ws,
            email,
            message_id,
            # the event identified a member with the email (not a lead that joins one below)
            identified=verified and bool(person["user_id"]),
            member_user_ids=frozenset(p["user_id"] for p in [person, *others] if p["user_id"]),
            cause=cause,
        )
        for candidate in others:
            person = await self.live(person["_id"], ws, scope)
            candidate = await self.live(candidate["_id"], ws, scope)
            if candidate["_id"] == person["_id"]:
                continue
            if await self._email_joins(match, person, candidate):
                survivor = await self.merge(
                    ws, person["_id"], candidate["_id"], "email", scope, cause, email=email
                )
                if survivor is not None:
                    person = await self.live(survivor, ws, scope)
        return person["_id"]

    async def _email_joins(
        self, match: EmailMatch, person: dict[str, Any], candidate: dict[str, Any]
    ) -> bool:
        """Whether two live persons sharing the email merge; a refusal that needs a look
        is recorded as a conflict."""
        if person["user_id"] and candidate["user_id"]:
            if match.identified:
                await self._two_members(
                    match.ws,
                    "different_user_ids",
                    person,
                    candidate,
                    match.message_id,
                    cause=match.cause,
                    email=match.email,
                )
            return False  # two members never merge on an email alone
        member = person if person["user_id"] else candidate if candidate["user_id"] else None
        if member is None:
            return True  # two leads
        lead = candidate if member is person else person
        if (
            not (match.identified and member is person)
            and match.email not in lead["trusted_emails"]
        ):
            return False  # an unverified email never joins a member
        if len(match.member_user_ids) > 1:
            await self.store.record_conflict(
                match.ws,
                kind="email_matches_many_members",
                persons=[lead["_id"], member["_id"]],
                email=match.email,
                person=lead["_id"],
                message_id=match.message_id,
                cause=why(
                    match.cause,
                    "email_matches_many_members",
                    sides=[side(lead), side(member)],
                    email=match.email,
                ),
            )
            return False
        return True

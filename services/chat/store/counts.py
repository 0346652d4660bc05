"""The inbox views' counts, kept per workspace in one `inbox_counts` document.

`{_id: workspace, all: {<status>: n}, unassigned: {<status>: n}, agents: {<key>: {<status>: n}}}`
(an agent's key: `agent_key`). Every write that may change a conversation's status or
assignee runs as an update pipeline wrapped by `counted`: the first stage notes the
values before, the last appends a *shift* `{t, s0, a0, s1, a1}` to the conversation's
`counted` list (the latest `KEPT`) when they changed. The write's own token finds its
shift in the document read back, so each write learns exactly what it changed (a
concurrent write on the same conversation records its own shift) and `$inc`s the
counts by that. A process dying between the write and the `$inc` leaves the counts
off by that one change: `recount` (at start for a workspace with no counts,
`python -m services.chat.recount` by hand) rebuilds them from the collection.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection

STATUSES = ("open", "pending", "snoozed", "resolved")
COUNTED = "counted"
WAS = "_counted_was"
KEPT = 8
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def token() -> str:
    return uuid.uuid4().hex


def agent_key(agent_id: str) -> str:
    """A field name for an agent id: ids may hold `.` (a path separator) or start with `$`."""
    if _PLAIN_KEY.match(agent_id):
        return "a_" + agent_id
    return "x_" + agent_id.encode().hex()


def counted(stages: list[dict[str, Any]], mark: str) -> list[dict[str, Any]]:
    """`stages` (an update pipeline) recording its shift under `mark` when it makes one."""
    was = f"${WAS}"
    changed = {
        "$or": [
            {"$ne": [f"{was}.s", "$status"]},
            {"$ne": [f"{was}.a", {"$ifNull": ["$assignee_id", None]}]},
        ]
    }
    shift = {
        "t": {"$literal": mark},
        "s0": f"{was}.s",
        "a0": f"{was}.a",
        "s1": "$status",
        "a1": {"$ifNull": ["$assignee_id", None]},
    }
    kept = {"$ifNull": [f"${COUNTED}", []]}
    appended = {"$slice": [{"$concatArrays": [kept, [shift]]}, -KEPT]}
    return [
        {"$set": {WAS: {"s": "$status", "a": {"$ifNull": ["$assignee_id", None]}}}},
        *stages,
        {"$set": {COUNTED: {"$cond": [changed, appended, kept]}}},
        {"$unset": [WAS]},
    ]


def shift_of(doc: dict[str, Any], mark: str) -> dict[str, Any] | None:
    return next((s for s in doc.get(COUNTED) or () if s.get("t") == mark), None)


def keys_of(status: Any, assignee_id: Any) -> list[str]:
    if status not in STATUSES:
        return []
    owner = "unassigned" if not assignee_id else f"agents.{agent_key(str(assignee_id))}"
    return [f"all.{status}", f"{owner}.{status}"]


def deltas(docs: Iterable[dict[str, Any]], mark: str) -> Counter[str]:
    """What the shifts `mark` made in `docs` change in the counts."""
    change: Counter[str] = Counter()
    for doc in docs:
        shift = shift_of(doc, mark)
        if shift is None:
            continue
        for key in keys_of(shift.get("s0"), shift.get("a0")):
            change[key] -= 1
        for key in keys_of(shift.get("s1"), shift.get("a1")):
            change[key] += 1
    return change


def born(docs: Iterable[dict[str, Any]]) -> Counter[str]:
    """New conversations: each counts once where it starts."""
    change: Counter[str] = Counter()
    for doc in docs:
        for key in keys_of(doc.get("status"), doc.get("assignee_id")):
            change[key] += 1
    return change


def view_counts(doc: dict[str, Any] | None, agent_id: str | None) -> dict[str, dict[str, int]]:
    """view -> status -> count, for the inbox (`queue` is open and unassigned)."""
    doc = doc or {}
    agents = doc.get("agents") or {}

    def of(part: Any) -> dict[str, int]:
        part = part if isinstance(part, dict) else {}
        return {s: max(0, int(part.get(s) or 0)) for s in STATUSES}

    unassigned = of(doc.get("unassigned"))
    return {
        "all": of(doc.get("all")),
        "unassigned": unassigned,
        "queue": {s: unassigned[s] if s == "open" else 0 for s in STATUSES},
        "mine": of(agents.get(agent_key(agent_id))) if agent_id else of(None),
    }


class Counts:
    conversations: AsyncIOMotorCollection
    inbox_counts: AsyncIOMotorCollection

    async def add_counts(self, workspace_id: str, change: Counter[str]) -> None:
        inc = {k: n for k, n in change.items() if n}
        if inc:
            await self.inbox_counts.update_one({"_id": workspace_id}, {"$inc": inc}, upsert=True)

    async def counts_of(self, workspace_id: str) -> dict[str, Any] | None:
        return await self.inbox_counts.find_one({"_id": workspace_id})

    async def recount(self, workspace_id: str) -> dict[str, Any]:
        """Rebuild the workspace's counts from its conversations (one aggregation)."""
        groups = self.conversations.aggregate(
            [
                {"$match": {"workspace_id": workspace_id}},
                {"$group": {"_id": {"s": "$status", "a": "$assignee_id"}, "n": {"$sum": 1}}},
            ]
        )
        doc: dict[str, Any] = {"all": {}, "unassigned": {}, "agents": {}}
        async for group in groups:
            status, assignee = group["_id"].get("s"), group["_id"].get("a")
            if status not in STATUSES:
                continue
            doc["all"][status] = doc["all"].get(status, 0) + group["n"]
            owner = (
                doc["unassigned"]
                if not assignee
                else doc["agents"].setdefault(agent_key(str(assignee)), {})
            )
            owner[status] = owner.get(status, 0) + group["n"]
        await self.inbox_counts.replace_one({"_id": workspace_id}, doc, upsert=True)
        return doc

    async def recount_if_missing(self, workspace_id: str) -> bool:
        if await self.inbox_counts.find_one({"_id": workspace_id}, projection={"_id": 1}):
            return False
        await self.recount(workspace_id)
        return True

    async def workspace_ids_all_workspaces(self) -> list[str]:
        """Every workspace that has a conversation (the recount command's default)."""
        return sorted(await self.conversations.distinct("workspace_id"))

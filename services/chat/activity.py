"""Activity lines: what happened to a conversation, told in its thread.

`record` is the one door: any change (an assignment by hand or by routing, a status
change, a snooze, a label, a merge) calls it after the change is stored. The line is a
message of the conversation (`kind: "activity"`, `internal: true`, author kind
`system`), so it takes a seq, pages with the messages and reaches the agents live like
one; being internal it never reaches the visitor's widget (live frame or history), and
no mail fact is published for it. It neither counts as unread (only visitor messages
do) nor moves the conversation's preview or its place in the inbox (services/chat/fold.py).

The text is written here, once, in the words the dashboard shows; `activity` keeps the
parts (`type`, `by`, and per type `to`, `until`, `label`, `from_conversation`) so a page
may render them otherwise later.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.chat.context import ChatContext
from services.chat.inbound import Inbound, store_batch
from shared import clock
from shared.events import parse_time

TYPES = (
    "assigned",
    "unassigned",
    "resolved",
    "reopened",
    "pending",
    "snoozed",
    "label_added",
    "label_removed",
    "merged",
)
ROUTING = {"id": None, "name": "routing"}


def _name(who: dict[str, Any] | None, fallback: str = "An agent") -> str:
    return str((who or {}).get("name") or fallback)


def _when(value: datetime | str | None) -> str:
    parsed = parse_time(value) if isinstance(value, str) else value
    return parsed.strftime("%d %b %Y %H:%M UTC") if parsed else "later"


def text_of(kind: str, by: dict[str, Any] | None, details: dict[str, Any]) -> str:
    """The line as the thread shows it ("Ann assigned this to Bob")."""
    actor = _name(by)
    if kind == "assigned":
        to = _name(details.get("to"), "an agent")
        return f"Assigned to {to} by routing" if by is ROUTING else f"{actor} assigned this to {to}"
    if kind == "unassigned":
        return f"{actor} unassigned this"
    if kind == "resolved":
        return f"{actor} resolved this"
    if kind == "reopened":
        return f"{actor} reopened this"
    if kind == "pending":
        return f"{actor} marked this pending"
    if kind == "snoozed":
        return f"{actor} snoozed this until {_when(details.get('until'))}"
    if kind in ("label_added", "label_removed"):
        verb = "added" if kind == "label_added" else "removed"
        return f"{actor} {verb} label {details.get('label') or '?'}"
    if kind == "merged":
        source = details.get("visitor") or details.get("from_conversation")
        return f"{actor} merged conversation with {source} into this"
    raise ValueError(f"unknown activity {kind!r}")


async def record(
    ctx: ChatContext,
    conversation: dict[str, Any],
    kind: str,
    by: dict[str, Any] | None,
    key: str | None = None,
    **details: Any,
) -> dict[str, Any]:
    """Store and announce one activity line; the stored message.

    `by`: the agent `{id, name}` who made the change, or `ROUTING`. `key`: makes the
    line idempotent (a retried change records it once); a fresh id otherwise."""
    if kind not in TYPES:
        raise ValueError(f"unknown activity {kind!r}")
    ws = conversation["workspace_id"]
    actor = {"id": (by or {}).get("id"), "name": _name(by)}
    parts = {"type": kind, "by": actor, **_plain(details)}
    item = Inbound(
        kind="activity",
        workspace_id=ws,
        visitor_id=conversation["visitor_id"],
        distinct_id=conversation["distinct_id"],  # unchanged: a change moves nobody
        client_msg_id=f"activity:{key or uuid.uuid4().hex}",
        text=text_of(kind, by, details),
        author={"kind": "system", "id": actor["id"], "name": "Parley", "avatar": None},
        email=None,
        internal=True,
        activity=parts,
    )
    stored = (await store_batch(ctx, ws, [item], {conversation["visitor_id"]: conversation}))[item]
    await ctx.live.message(stored.message, stored.conversation)
    return stored.message


def _plain(details: dict[str, Any]) -> dict[str, Any]:
    """Details as stored: times as ISO text, agents as {id, name}."""
    out: dict[str, Any] = {}
    for k, v in details.items():
        if isinstance(v, datetime):
            out[k] = clock.iso(v)
        elif isinstance(v, dict):
            out[k] = {"id": v.get("id"), "name": v.get("name")}
        else:
            out[k] = v
    return out

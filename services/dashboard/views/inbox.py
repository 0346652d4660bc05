"""The inbox: Mine / Unassigned / Queue / All × status (each with its count), by label,
newest activity first, 25 a page; rows picked for a bulk action (`/inbox/bulk`)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any, cast

from aiohttp import web

from services.dashboard import audit, keys
from services.dashboard.ask import Notices, ask
from services.dashboard.auth import current_agent, workspace_id
from services.dashboard.directory import directory
from services.dashboard.people import people_for
from services.dashboard.render import iso, render
from shared import clock
from shared.errors import BusError
from shared.schema import chat_requests as rq

# Queue: open and unassigned, waiting for routing (services/chat/routing.py)
VIEWS = {"mine": "Mine", "unassigned": "Unassigned", "queue": "Queue", "all": "All"}
STATUSES = {"open": "Open", "pending": "Pending", "snoozed": "Snoozed", "resolved": "Resolved"}
PAGE_SIZE = 25
MAX_CURSOR = 500
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
BULK_STATUSES = ("resolved", "open")


def inbox_filter(request: web.Request) -> tuple[str, str]:
    view = request.query.get("view", "all")
    status = request.query.get("status", "open")
    if view not in VIEWS:
        view = "all"
    if status not in STATUSES or view == "queue":  # the queue holds open ones only
        status = "open"
    return view, status


async def inbox(request: web.Request) -> web.StreamResponse:
    agent = current_agent(request)
    ws = workspace_id(request)
    view, status = inbox_filter(request)
    label = request.query.get("label") or None
    if label is not None and not _ID.match(label):
        label = None
    cursor = request.query.get("cursor") or None
    if cursor and len(cursor) > MAX_CURSOR:
        raise web.HTTPBadRequest(text="cursor too long\n")
    # resync starts before the page was rendered (margin for clock skew between the
    # services): overlap is harmless, gaps are not; later the page follows chat's clock
    rendered_at = clock.now() - timedelta(seconds=30)
    notices = Notices(request.app)
    payload = rq.ConversationsList(
        workspace_id=ws,
        view=cast(rq.View, view),  # inbox_filter keeps only known ones
        agent_id=agent["_id"],
        status=cast(rq.Status, status),
        label_id=label,
        limit=PAGE_SIZE,
        cursor=cursor,
    )
    page, counted, names, agents = await asyncio.gather(
        notices.ask(
            "chat",
            "conversations.list",
            payload,
            {"conversations": [], "next_cursor": None},
            "the conversations",
        ),
        notices.ask(
            "chat",
            "inbox.counts",
            rq.InboxCounts(workspace_id=ws, agent_id=agent["_id"]),
            {"counts": {}},
            "the counts",
        ),
        directory(request.app, ws),
        request.app[keys.STORE].agents(ws),
    )
    conversations = page.get("conversations") or []
    people = await people_for(request.app, ws, conversations, notices)
    counts = counted.get("counts") or {}
    here = f"view={view}&status={status}" + (f"&label={label}" if label in names["labels"] else "")
    return render(
        request,
        "inbox.html",
        {
            "views": VIEWS,
            "statuses": STATUSES,
            "view": view,
            "status": status,
            "conversations": conversations,
            "people": people,
            "next_cursor": page.get("next_cursor"),
            "first_page": cursor is None,
            "rendered_at": iso(rendered_at),
            "counts": counts,
            "names": names,
            "label": label if label in names["labels"] else None,
            "agents": [a for a in agents if a.get("active", True)],
            "here": here,
            "notices": notices.items,
            "active": "inbox",
        },
    )


def bulk_change(form: Any, me: str, agent_ids: set[str]) -> dict[str, Any]:
    """What the bulk form asks: `assignee` (an agent, `me`, `none`), `label`, `status`."""
    change: dict[str, Any] = {}
    assignee = form.get("assignee") or ""
    if assignee in ("none", "me"):
        change["assignee_id"] = None if assignee == "none" else me
    elif assignee:
        if assignee not in agent_ids:
            raise web.HTTPBadRequest(text="Unknown agent.\n")
        change["assignee_id"] = assignee
    label = form.get("label") or ""
    if label:
        if not isinstance(label, str) or not _ID.match(label):
            raise web.HTTPBadRequest(text="Unknown label.\n")
        change["add_label"] = label
    if form.get("status") in BULK_STATUSES:
        change["status"] = form.get("status")
    return change


async def bulk(request: web.Request) -> web.StreamResponse:
    """Assign, label or resolve the rows picked, in one request to chat (a plain form)."""
    agent = current_agent(request)
    ws = workspace_id(request)
    form = await request.post()
    ids = [str(i) for i in form.getall("id", [])]
    if not ids or len(ids) > rq.MAX_BULK or not all(_ID.match(i) for i in ids):
        raise web.HTTPBadRequest(text=f"Pick 1 to {rq.MAX_BULK} conversations.\n")
    agents = {a["_id"] for a in await request.app[keys.STORE].agents(ws) if a.get("active", True)}
    change = bulk_change(form, agent["_id"], agents)
    if not change:
        raise web.HTTPBadRequest(text="Choose what to do with them.\n")
    payload = rq.ConversationsBulk(
        workspace_id=ws, agent_id=agent["_id"], conversation_ids=ids, **change
    )
    try:
        result = await ask(request.app, "chat", "conversations.bulk", payload)
    except BusError as exc:
        if exc.code in ("invalid", "not_found"):
            raise web.HTTPBadRequest(text=f"{exc}\n") from exc
        raise
    changed = [c["id"] for c in result.get("conversations") or []]
    await audit.record(request, "conversations.bulk", conversations=changed, **change)
    back = str(form.get("back") or "")
    raise web.HTTPSeeOther(
        "/inbox?" + back if re.fullmatch(r"[A-Za-z0-9=&_.:-]{0,300}", back) else "/inbox"
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/inbox", inbox)
    app.router.add_post("/inbox/bulk", bulk)

"""The inbox: Mine / Unassigned / All × status, newest activity first, 25 a page."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from aiohttp import web

from services.dashboard.ask import Notices
from services.dashboard.auth import current_agent, workspace_id
from services.dashboard.people import people_for
from services.dashboard.render import iso, render
from shared import clock
from shared.schema import chat_requests as rq

# Queue: open and unassigned, waiting for routing (services/chat/routing.py)
VIEWS = {"mine": "Mine", "unassigned": "Unassigned", "queue": "Queue", "all": "All"}
STATUSES = {"open": "Open", "pending": "Pending", "snoozed": "Snoozed", "resolved": "Resolved"}
PAGE_SIZE = 25
MAX_CURSOR = 500


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
        limit=PAGE_SIZE,
        cursor=cursor,
    )
    page = await notices.ask(
        "chat",
        "conversations.list",
        payload,
        {"conversations": [], "next_cursor": None},
        "the conversations",
    )
    conversations = page.get("conversations") or []
    people = await people_for(request.app, ws, conversations, notices)
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
            "notices": notices.items,
            "active": "inbox",
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/inbox", inbox)

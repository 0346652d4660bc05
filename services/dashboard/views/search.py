"""Conversation search: `/search?q=&label=&from=&to=&cursor=`, asked of chat
(`conversations.search`), newest activity first, 25 a page, each hit's snippet and
person highlighted (segments, never HTML: shared/highlight.py)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from services.dashboard.ask import Notices
from services.dashboard.auth import current_agent, workspace_id
from services.dashboard.people import people_for
from services.dashboard.render import render
from shared import clock
from shared.highlight import highlight
from shared.schema import chat_requests as rq

PAGE_SIZE = 25
MAX_QUERY = 200
MAX_CURSOR = 500
_LABEL = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _filters(request: web.Request) -> dict[str, Any]:
    """What the page was asked, each part checked; an unusable part is dropped."""
    q = request.query.get("q", "").strip()[:MAX_QUERY]
    label = request.query.get("label", "").strip()
    cursor = request.query.get("cursor") or None
    if cursor and len(cursor) > MAX_CURSOR:
        raise web.HTTPBadRequest(text="cursor too long\n")
    return {
        "q": q,
        "label": label if _LABEL.match(label) else "",
        "from": _day(request.query.get("from", "")),
        "to": _day(request.query.get("to", "")),
        "cursor": cursor,
    }


def _request(ws: str, agent_id: str, f: dict[str, Any]) -> rq.ConversationsSearch:
    """Days are the agent's calendar days in UTC; `to` is included."""
    since = datetime.combine(f["from"], time(), tzinfo=UTC) if f["from"] else None
    until = datetime.combine(f["to"] + timedelta(days=1), time(), tzinfo=UTC) if f["to"] else None
    return rq.ConversationsSearch(
        workspace_id=ws,
        q=f["q"],
        label=f["label"] or None,
        since=clock.iso(since) if since else None,
        until=clock.iso(until) if until else None,
        agent_id=agent_id,
        cursor=f["cursor"],
        limit=PAGE_SIZE,
    )


async def search(request: web.Request) -> web.StreamResponse:
    agent = current_agent(request)
    ws = workspace_id(request)
    f = _filters(request)
    asked = bool(f["q"] or f["label"] or f["from"] or f["to"])
    notices = Notices(request.app)
    empty: dict[str, Any] = {"hits": [], "terms": [], "next_cursor": None}
    page = empty
    if asked:
        page = await notices.ask(
            "chat", "conversations.search", _request(ws, agent["_id"], f), empty, "the search"
        )
    hits = page.get("hits") or []
    conversations = [h["conversation"] for h in hits]
    people = await people_for(request.app, ws, conversations, notices)
    terms = page.get("terms") or []
    rows = [
        {
            "conversation": h["conversation"],
            "person": highlight(people[h["conversation"]["id"]]["label"], terms),
            "snippet": h.get("snippet") or [],
        }
        for h in hits
    ]
    keep = {k: v for k, v in (("q", f["q"]), ("label", f["label"])) if v}
    keep.update({k: f[k].isoformat() for k in ("from", "to") if f[k]})
    return render(
        request,
        "search.html",
        {
            "active": "inbox",
            "asked": asked,
            "rows": rows,
            "filters": f,
            "keep": keep,
            "any_label": {k: v for k, v in keep.items() if k != "label"},
            "next_cursor": page.get("next_cursor"),
            "first_page": f["cursor"] is None,
            "notices": notices.items,
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/search", search)

"""Contacts: profiles searchable by email, name or user id, filtered by stage; a profile page."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import quote

from aiohttp import web

from services.dashboard import identity_graph, identity_view, sidebar
from services.dashboard.ask import Notices
from services.dashboard.auth import workspace_id
from services.dashboard.render import render
from shared.schema import chat_requests as chatq
from shared.schema import identity_requests as idq

STAGE_FILTERS = {"": "Everyone", "visitor": "Visitors", "contact": "Contacts", "member": "Members"}
PAGE_SIZE = 25
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


async def contacts(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()[:200]
    stage = request.query.get("stage", "")
    if stage not in STAGE_FILTERS:
        stage = ""
    cursor = request.query.get("cursor") or None
    if cursor and len(cursor) > 500:
        raise web.HTTPBadRequest(text="cursor too long\n")
    payload: dict = {"workspace_id": workspace_id(request), "limit": PAGE_SIZE}
    if q:
        payload["q"] = q
    if stage:
        payload["stage"] = stage
    if cursor:
        payload["cursor"] = cursor
    notices = Notices(request.app)
    result = await notices.ask(
        "identity", "profile.search", payload, {"profiles": [], "next_cursor": None}, "contacts"
    )
    return render(
        request,
        "contacts.html",
        {
            "active": "contacts",
            "profiles": result.get("profiles") or [],
            "next_cursor": result.get("next_cursor"),
            "q": q,
            "stage": stage,
            "stages": STAGE_FILTERS,
            "deleted": request.query.get("deleted") == "1",
            "notices": notices.items,
        },
    )


async def profile_page(request: web.Request) -> web.Response:
    profile_id = request.match_info["profile_id"]
    if not _ID.match(profile_id):
        raise web.HTTPNotFound(text="Profile not found.\n")
    unmerged = request.query.get("unmerged", "")
    return await render_profile(
        request, profile_id, unmerged=unmerged if _ID.match(unmerged) else None
    )


async def render_profile(
    request: web.Request, profile_id: str, status: int = 200, **extra: Any
) -> web.Response:
    """The profile page; `extra` for its notices (an undone merge, a refused undo)."""
    ws = workspace_id(request)
    notices = Notices(request.app)
    profile = await notices.ask(
        "identity",
        "profile.get",
        idq.Get(workspace_id=ws, profile_id=profile_id),
        None,
        "this profile",
        required=True,
    )
    events: dict[str, Any] = {"events": []}
    previous: dict[str, Any] = {"conversations": []}
    history: dict[str, Any] = {}
    traits: dict[str, Any] = {}
    if profile:
        if profile.get("id") and profile["id"] != profile_id:
            # merged away: the survivor's page (not permanent: ids are not reused, but be safe)
            raise web.HTTPFound(f"/contacts/{quote(str(profile['id']), safe='')}")
        events, previous, history, traits = await asyncio.gather(
            notices.ask(
                "identity",
                "profile.events",
                idq.Events(workspace_id=ws, profile_id=profile_id, limit=25),
                {"events": []},
                "recent events",
            ),
            notices.ask(
                "chat",
                "conversations.by_profile",
                chatq.ConversationsByProfile(workspace_id=ws, profile_id=profile_id, limit=20),
                {"conversations": []},
                "conversations",
            ),
            notices.ask(
                "identity",
                "profile.merges",
                idq.Merges(workspace_id=ws, profile_id=profile_id),
                {},
                "merge history",
            ),
            notices.ask(
                "identity",
                "profile.trait_history",
                idq.TraitHistory(workspace_id=ws, profile_id=profile_id),
                {},
                "trait history",
            ),
        )
    side = {
        "profile": profile or {},
        "person": None,
        "events": events.get("events") or [],
        "previous": previous.get("conversations") or [],
        "conversation": None,
        "device": sidebar.device(profile),
    }
    return render(
        request,
        "profile.html",
        {
            "active": "contacts",
            "side": side,
            "timeline": identity_view.timeline(history),
            "graph": identity_graph.graph(profile, history),
            "trait_history": identity_view.trait_rows(profile, traits),
            "notices": notices.items,
            "unmerged": None,
            "undo_error": None,
            **extra,
        },
        status=status,
    )


async def merge_reviews(request: web.Request) -> web.Response:
    """Merges the distinct-id limit held back (docs/identity.md, "Limits")."""
    notices = Notices(request.app)
    found = await notices.ask(
        "identity",
        "profile.merge_reviews",
        idq.Reviews(workspace_id=workspace_id(request), limit=100),
        {"reviews": [], "limit": None},
        "merges to review",
    )
    reviews = [r for r in found.get("reviews") or [] if isinstance(r, dict)]
    return render(
        request,
        "merge_reviews.html",
        {
            "active": "contacts",
            "limit": found.get("limit"),
            "reviews": [(identity_view.refusal_entry(r), r) for r in reviews],
            "notices": notices.items,
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/contacts", contacts)
    app.router.add_get("/merge-reviews", merge_reviews)
    app.router.add_get("/contacts/{profile_id}", profile_page)

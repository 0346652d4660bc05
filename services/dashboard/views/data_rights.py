"""A person's data rights (admins): "Export" downloads everything Parley keeps about them
(JSON, or a zip with an HTML transcript of their conversations too);
"Delete person" shows what goes (visitors, events, conversations) and, confirmed, erases
it in every service (identity's `person.delete`; docs/identity.md, "Data rights")."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from services.dashboard.ask import TIMEOUT, ask
from services.dashboard.auth import require_admin, workspace_id
from services.dashboard.render import render
from shared import data_export, export_zip
from shared.errors import BusError
from shared.schema import identity_requests as idq
from shared.web import BUS

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


def _profile_id(request: web.Request) -> str:
    profile_id = request.match_info["profile_id"]
    if not _ID.match(profile_id):
        raise web.HTTPNotFound(text="Profile not found.\n")
    return profile_id


async def _records(request: web.Request, ws: str, profile_id: str) -> dict[str, Any]:
    try:
        return await data_export.records(request.app[BUS], ws, profile_id)
    except BusError as exc:
        if exc.code == "not_found":
            raise web.HTTPNotFound(text="Profile not found.\n") from exc
        raise web.HTTPServiceUnavailable(text="Identity did not answer; try again.\n") from exc


async def export(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    ws = workspace_id(request)
    form = request.query.get("format", "json")
    if form not in ("json", "zip"):
        raise web.HTTPBadRequest(text="format must be json or zip.\n")
    found = await _records(request, ws, _profile_id(request))
    if form == "zip":
        try:
            return await export_zip.respond(request, request.app[BUS], ws, found)
        except BusError as exc:
            raise web.HTTPServiceUnavailable(text="A service did not answer; try again.\n") from exc
    return await data_export.respond(request, request.app[BUS], ws, found)


async def confirm(request: web.Request) -> web.Response:
    """What a delete erases, counted, and the button that does it."""
    require_admin(request)
    ws, profile_id = workspace_id(request), _profile_id(request)
    found = await _records(request, ws, profile_id)
    profile = found["profile"]
    family = [profile["id"], *found["merged_ids"]]
    dids = [d["distinct_id"] for d in found["distinct_ids"]]
    try:
        conversations = len(await data_export.conversations(request.app[BUS], ws, family, dids))
    except BusError:
        conversations = None  # chat is down: the page says it could not count them
    counts = {
        "visitors": len(profile["visitors"]),
        "distinct_ids": len(dids),
        "events": found["event_count"],
        "conversations": conversations,
        "merged": len(found["merged_ids"]),
    }
    return render(
        request,
        "profile_delete.html",
        {"active": "contacts", "profile": profile, "counts": counts},
    )


async def delete(request: web.Request) -> web.Response:
    agent = require_admin(request)
    ws, profile_id = workspace_id(request), _profile_id(request)
    form = await request.post()
    payload = idq.Delete(
        workspace_id=ws,
        profile_id=profile_id,
        actor_kind="agent",
        actor_id=str(agent["_id"]),
        actor_email=agent.get("email"),
        suppress=form.get("suppress") == "1",
    )
    try:
        await ask(request.app, "identity", "person.delete", payload, timeout=TIMEOUT * 3)
    except BusError as exc:
        if exc.code == "not_found":
            raise web.HTTPNotFound(text="Profile not found.\n") from exc
        raise web.HTTPServiceUnavailable(text="Identity did not answer; try again.\n") from exc
    raise web.HTTPSeeOther("/contacts?deleted=1")


def setup(app: web.Application) -> None:
    app.router.add_get("/contacts/{profile_id}/export", export)
    app.router.add_get("/contacts/{profile_id}/delete", confirm)
    app.router.add_post("/contacts/{profile_id}/delete", delete)

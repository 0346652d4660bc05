"""Workspaces (services/dashboard/workspaces.py): the list and the switcher's target,
creating one (admins), switching, and adding or removing an existing agent on the Team page."""

from __future__ import annotations

from aiohttp import web

from services.dashboard import audit, workspaces
from services.dashboard.auth import current_agent, require_admin, workspace_id
from services.dashboard.render import render
from services.dashboard.store import ROLES, Conflict
from services.dashboard.views import team
from shared.identifiers import normalize_email


async def page(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    agent = current_agent(request)
    context = {
        "active": "workspaces",
        "mine": workspaces.names(request, agent),
        "max_name": workspaces.MAX_NAME,
        "error": error,
    }
    return render(request, "workspaces.html", context, status=status)


async def list_page(request: web.Request) -> web.Response:
    return await page(request)


async def create(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    form = await request.post()
    try:
        name = workspaces.clean_name(form.get("name"))
    except ValueError as exc:
        return await page(request, str(exc), status=400)
    try:
        created = await workspaces.create(request, name)
    except Conflict as exc:
        return await page(request, str(exc), status=409)
    await audit.record(request, "workspace.created", workspace_id=created.id, name=name)
    raise web.HTTPSeeOther("/settings")


async def rename(request: web.Request) -> web.StreamResponse:
    """The current workspace's name (its admins): what the switcher shows everyone."""
    require_admin(request)
    form = await request.post()
    try:
        name = workspaces.clean_name(form.get("name"))
    except ValueError as exc:
        return await page(request, str(exc), status=400)
    await workspaces.rename(request, workspace_id(request), name)
    await audit.record(request, "settings.changed", fields=["name"])
    raise web.HTTPSeeOther("/workspaces")


async def switch(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    chosen = form.get("workspace_id")
    if not isinstance(chosen, str) or not 0 < len(chosen) <= 100:
        raise web.HTTPBadRequest(text="Choose a workspace.\n")
    try:
        await workspaces.choose(request, chosen)
    except Conflict as exc:
        raise web.HTTPForbidden(text=f"{exc}\n") from exc
    raise web.HTTPSeeOther("/inbox")


async def add_member(request: web.Request) -> web.StreamResponse:
    """An existing agent (by email) joins the workspace with a role; someone new is
    invited instead (the Team page's invitation form)."""
    require_admin(request)
    form = await request.post()
    email = normalize_email(form.get("email"))
    role = str(form.get("role", "agent"))
    if email is None:
        return await team.page(request, "Enter a valid email address.", status=400)
    if role not in ROLES:
        return await team.page(request, "Unknown role.", status=400)
    try:
        added = await workspaces.add_existing(request, workspace_id(request), email, role)
    except Conflict as exc:
        return await team.page(request, str(exc), status=409)
    if added is None:
        return await team.page(
            request, "Nobody has an account with this email: invite them instead.", status=404
        )
    await audit.record(request, "member.added", agent_id=added["_id"], agent_email=email, role=role)
    raise web.HTTPSeeOther("/team")


async def remove_member(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    agent_id = request.match_info["agent_id"]
    try:
        await workspaces.remove(request, workspace_id(request), agent_id)
    except Conflict as exc:
        return await team.page(request, str(exc), status=409)
    await audit.record(request, "member.removed", agent_id=agent_id)
    raise web.HTTPSeeOther("/team")


def setup(app: web.Application) -> None:
    app.router.add_get("/workspaces", list_page)
    app.router.add_post("/workspaces", create)
    app.router.add_post("/workspaces/switch", switch)
    app.router.add_post("/workspaces/rename", rename)
    app.router.add_post("/team/members", add_member)
    app.router.add_post("/team/agents/{agent_id}/remove", remove_member)

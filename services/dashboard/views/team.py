"""The team (admins): agents and their roles, invitations."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.dashboard import audit, keys, team_mail
from services.dashboard.ask import Notices
from services.dashboard.auth import require_admin, workspace_id
from services.dashboard.render import render
from services.dashboard.store import ROLES, Conflict
from services.dashboard.views.settings import whole_number
from shared.identifiers import normalize_email
from shared.schema import chat_requests as rq
from shared.web import SETTINGS, WORKSPACES
from shared.workspaces import DEFAULT_CAPACITY, Workspace

MAX_CAPACITY = 200


async def page(
    request: web.Request,
    error: str | None = None,
    invite_link: str | None = None,
    status: int = 200,
    emailed: dict[str, Any] | None = None,
) -> web.Response:
    require_admin(request)
    store = request.app[keys.STORE]
    ws = workspace_id(request)
    notices = Notices(request.app)
    presence = await notices.ask(
        "chat", "agents.presence", rq.PresenceRequest(workspace_id=ws), None, "Presence"
    )
    return render(
        request,
        "team.html",
        {
            "active": "team",
            "agents": await store.agents(ws),
            "capacity": _capacities(request, ws),
            "default_capacity": DEFAULT_CAPACITY,
            "max_capacity": MAX_CAPACITY,
            "invitations": await store.pending_invitations(ws),
            "roles": ROLES,
            "error": error,
            "invite_link": invite_link,
            "emailed": emailed,
            "presence": _presence_of(presence),
            "notices": notices.items,
        },
        status=status,
    )


def _capacities(request: web.Request, ws: str) -> dict[str, int] | None:
    """Agent id -> capacity (absent: DEFAULT_CAPACITY); None before the registry loads."""
    workspace = request.app[WORKSPACES].get(ws)
    return None if workspace is None else workspace.agent_capacity


def _presence_of(answer: Any) -> dict[str, str] | None:
    """Agent id -> "available" or "away" (set by them); an agent chat does not list is
    away by themselves (no dashboard open for the auto-away minutes). None: chat did
    not answer."""
    if not isinstance(answer, dict):
        return None
    online, available = set(answer.get("online") or []), set(answer.get("available") or [])
    return {a: ("available" if a in available else "away") for a in online}


async def team_page(request: web.Request) -> web.Response:
    return await page(request)


async def invite(request: web.Request) -> web.Response:
    admin = require_admin(request)
    form = await request.post()
    email = normalize_email(form.get("email"))
    role = str(form.get("role", "agent"))
    if email is None:
        return await page(request, "Enter a valid email address.", status=400)
    if role not in ROLES:
        return await page(request, "Unknown role.", status=400)
    try:
        token = await request.app[keys.STORE].invite(
            workspace_id(request), email, role, admin["_id"]
        )
    except Conflict as exc:
        return await page(request, str(exc), status=409)
    await audit.record(request, "invitation.created", email=email, role=role)
    link = f"{request.app[SETTINGS].dashboard_url}/invite/{token}"
    emailed = await team_mail.send(
        request.app,
        "invitation",
        email,
        token,
        link,
        workspace_id=workspace_id(request),
        inviter=admin.get("name") or admin["email"],
    )
    # the link is shown once, to the admin who made it; only its digest is stored
    return await page(
        request, invite_link=link, emailed={"to": email, **emailed} if emailed else {}
    )


async def set_role(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    form = await request.post()
    role = str(form.get("role", ""))
    if role not in ROLES:
        raise web.HTTPBadRequest(text="Unknown role.\n")
    agent_id = request.match_info["agent_id"]
    try:
        await request.app[keys.STORE].set_role(workspace_id(request), agent_id, role)
    except Conflict as exc:
        return await page(request, str(exc), status=409)
    request.app[keys.SESSIONS].forget(agent_id=agent_id)  # other replicas: within 2 s
    await audit.record(request, "agent.role_changed", **await _target(request, agent_id), role=role)
    raise web.HTTPSeeOther("/team")


def parse_capacity(raw: str) -> int:
    """Most open conversations routing gives one agent: 0 (none) to MAX_CAPACITY."""
    return whole_number(raw, 0, MAX_CAPACITY, "conversations")


async def set_capacity(request: web.Request) -> web.StreamResponse:
    """The agent's capacity, in the workspace (every chat replica routes by it)."""
    require_admin(request)
    form = await request.post()
    try:
        capacity = parse_capacity(str(form.get("capacity", "")))
    except ValueError as exc:
        return await page(request, str(exc), status=400)
    agent_id = request.match_info["agent_id"]
    store = request.app[keys.STORE]
    found = await store.agent(agent_id)
    if found is None or await store.role_in(found, workspace_id(request)) is None:
        raise web.HTTPNotFound(text="No such agent.\n")

    def change(ws: Workspace) -> Workspace:
        ws.agent_capacity = {**ws.agent_capacity, agent_id: capacity}
        return ws

    await request.app[WORKSPACES].update(workspace_id(request), change)
    await audit.record(request, "settings.changed", fields=["agent_capacity"], agent_id=agent_id)
    raise web.HTTPSeeOther("/team")


async def set_active(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    form = await request.post()
    active = form.get("active") == "1"
    agent_id = request.match_info["agent_id"]
    try:
        await request.app[keys.STORE].set_active(workspace_id(request), agent_id, active)
    except Conflict as exc:
        return await page(request, str(exc), status=409)
    if not active:
        await request.app[keys.HUB].agent_disabled(agent_id)
    action = "agent.enabled" if active else "agent.disabled"
    await audit.record(request, action, **await _target(request, agent_id))
    raise web.HTTPSeeOther("/team")


async def _target(request: web.Request, agent_id: str) -> dict[str, Any]:
    """Who an admin acted on, for the audit trail."""
    target = await request.app[keys.STORE].agent(agent_id)
    return {"agent_id": agent_id, "agent_email": (target or {}).get("email")}


async def revoke(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    await request.app[keys.STORE].revoke_invitation(
        workspace_id(request), request.match_info["invitation_id"]
    )
    await audit.record(request, "invitation.revoked")
    raise web.HTTPSeeOther("/team")


def setup(app: web.Application) -> None:
    app.router.add_get("/team", team_page)
    app.router.add_post("/team/invite", invite)
    app.router.add_post("/team/agents/{agent_id}/role", set_role)
    app.router.add_post("/team/agents/{agent_id}/active", set_active)
    app.router.add_post("/team/agents/{agent_id}/capacity", set_capacity)
    app.router.add_post("/team/invitations/{invitation_id}/revoke", revoke)

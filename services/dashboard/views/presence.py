"""Each agent's own presence: Available or Away, the control in the rail.

The choice lives in the workspace (`away_agents`, services/chat/presence.py reads it at
every chat replica): an Away agent is not shown to visitors and routing gives them
nothing, whatever tabs they have open. Written with compare-and-set, so two agents
switching at the same moment both keep their choice.
"""

from __future__ import annotations

from aiohttp import web

from services.dashboard.auth import current_agent, workspace_id
from shared.web import WORKSPACES
from shared.workspaces import Workspace

CHOICES = ("available", "away")


def with_choice(workspace: Workspace, agent_id: str, away: bool) -> Workspace:
    others = [a for a in workspace.away_agents if a != agent_id]
    workspace.away_agents = [*others, agent_id] if away else others
    return workspace


def back_to(raw: str) -> str:
    """Where the form came from, a path on this site only (never `//elsewhere`)."""
    if raw.startswith("/") and not raw.startswith("//") and "\\" not in raw and len(raw) < 500:
        return raw
    return "/inbox"


async def set_presence(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    choice = str(form.get("presence", ""))
    if choice not in CHOICES:
        raise web.HTTPBadRequest(text="presence is available or away\n")
    agent_id = current_agent(request)["_id"]
    away = choice == "away"
    updated = await request.app[WORKSPACES].update(
        workspace_id(request), lambda ws: with_choice(ws, agent_id, away)
    )
    if updated is None:
        raise web.HTTPServiceUnavailable(text="The workspace registry is not loaded yet.\n")
    raise web.HTTPSeeOther(back_to(str(form.get("back", ""))))


def setup(app: web.Application) -> None:
    app.router.add_post("/me/presence", set_presence)

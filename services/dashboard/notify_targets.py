"""`P.dashboard.agents.notify_targets`: who the mail service emails about a visitor
message nobody read. The assigned agent, or every agent of the workspace when the
conversation is unassigned; only active agents who left email notifications on.
And `P.dashboard.agents.admins`: the active admins, whom the webhooks service emails
about an endpoint it disabled."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.dashboard import keys
from services.dashboard.store import notify_settings
from shared.errors import PermanentError
from shared.web import BUS


def targets(agents: list[dict[str, Any]], assignee_id: str | None) -> list[dict[str, Any]]:
    active = [a for a in agents if a.get("active", True)]
    wanting = [a for a in active if notify_settings(a)["email"]]
    assignee = next((a for a in active if a["_id"] == assignee_id), None)
    if assignee is not None:  # assigned to an active agent: them only (none if they opted out)
        return [_out(assignee)] if assignee in wanting else []
    return [_out(a) for a in wanting]  # unassigned, or assigned to someone gone: everyone


def _out(agent: dict[str, Any]) -> dict[str, Any]:
    return {"id": agent["_id"], "name": agent.get("name") or "", "email": agent["email"]}


def setup(app: web.Application) -> None:
    async def serve_ctx(app: web.Application):
        bus = app[BUS]

        async def answer(payload: Any) -> dict[str, Any]:
            ws = payload.get("workspace_id") if isinstance(payload, dict) else None
            if not isinstance(ws, str) or not ws:
                raise PermanentError("workspace_id is required", code="invalid")
            assignee = payload.get("assignee_id")
            agents = await app[keys.STORE].agents(ws)
            chosen = targets(agents, assignee if isinstance(assignee, str) else None)
            return {"agents": chosen}

        async def admins(payload: Any) -> dict[str, Any]:
            ws = payload.get("workspace_id") if isinstance(payload, dict) else None
            if not isinstance(ws, str) or not ws:
                raise PermanentError("workspace_id is required", code="invalid")
            agents = await app[keys.STORE].agents(ws)
            chosen = [a for a in agents if a.get("active", True) and a.get("role") == "admin"]
            return {"agents": [_out(a) for a in chosen]}

        await bus.serve(bus.subjects.request("dashboard", "agents.notify_targets"), answer)
        # the webhooks service emails these when it disables an endpoint
        await bus.serve(bus.subjects.request("dashboard", "agents.admins"), admins)
        yield

    app.cleanup_ctx.append(serve_ctx)

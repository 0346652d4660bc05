"""More than one site on one deployment: creating workspaces, choosing one, membership.

- A workspace is created in the registry (the JetStream bucket every service watches,
  shared/workspaces.py) with freshly generated keys, so every gateway replica accepts
  its write key and secret key as soon as the bucket's watch delivers it: no restart.
- The creator becomes its admin (a membership, services/dashboard/store/memberships.py)
  and their session moves to it.
- A session works in one workspace at a time (the session's `workspace_id`); every
  request sees the agent as a member of that workspace (services/dashboard/sessions.py),
  so `auth.workspace_id` and `auth.require_admin` answer for the chosen workspace.
- A membership that ends or changes is announced like a disabled agent: every replica
  forgets the agent's cached sessions and closes their sockets at once
  (services/dashboard/agent_ws.py), so a removed member loses access immediately.
"""

from __future__ import annotations

import secrets
import unicodedata
from typing import Any

from aiohttp import web

from services.dashboard import keys
from services.dashboard.auth import require_admin
from services.dashboard.store.memberships import Conflict
from shared.web import WORKSPACES
from shared.workspaces import DEFAULT_WORKSPACE_ID, Workspace, new_keys

MAX_NAME = 80
MAX_WORKSPACES = 200


def require_operator(request: web.Request) -> dict[str, Any]:
    """An admin working in the default workspace: the deployment's own pages (the mail
    catcher holds every workspace's email) are theirs alone."""
    agent = require_admin(request)
    if agent.get("workspace_id") != DEFAULT_WORKSPACE_ID:
        raise web.HTTPForbidden(text="Only admins of the default workspace can do this.\n")
    return agent


def clean_name(raw: Any) -> str:
    """A workspace name: 1 to MAX_NAME printable characters, spaces collapsed."""
    text = raw if isinstance(raw, str) else ""
    text = " ".join(text.split())
    if not text or len(text) > MAX_NAME:
        raise ValueError(f"Name the workspace in 1 to {MAX_NAME} characters.")
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise ValueError("The name has characters that cannot be shown.")
    return text


def new_workspace_id() -> str:
    return "ws_" + secrets.token_hex(8)


def names(request: web.Request, agent: dict[str, Any]) -> list[dict[str, Any]]:
    """The agent's workspaces for the switcher: `{id, name, role, current}`, in order."""
    registry = request.app.get(WORKSPACES)
    rows = []
    for membership in agent.get("memberships") or []:
        ws_id = membership["workspace_id"]
        found = registry.get(ws_id) if registry else None
        rows.append(
            {
                "id": ws_id,
                "name": found.name if found else ws_id,
                "role": membership["role"],
                "current": ws_id == agent.get("workspace_id"),
            }
        )
    return rows


async def create(request: web.Request, name: str) -> Workspace:
    """A new workspace with its own keys; the signed-in agent becomes its admin and
    their session moves to it."""
    agent = request[keys.AGENT]
    if len(agent.get("memberships") or []) >= MAX_WORKSPACES:
        raise Conflict(f"at most {MAX_WORKSPACES} workspaces per agent")
    fresh = new_keys()
    workspace = Workspace(
        id=new_workspace_id(),
        name=name,
        write_key=fresh["write_key"],
        secret_key=fresh["secret_key"],
        identity_secret=fresh["identity_secret"],
    )
    await request.app[WORKSPACES].put(workspace)
    store = request.app[keys.STORE]
    await store.add_member(workspace.id, agent, "admin", agent["_id"])
    await choose(request, workspace.id)
    return workspace


async def rename(request: web.Request, workspace_id: str, name: str) -> None:
    def change(ws: Workspace) -> Workspace:
        ws.name = name
        return ws

    await request.app[WORKSPACES].update(workspace_id, change)


async def choose(request: web.Request, workspace_id: str) -> None:
    """Move the session to a workspace the agent is a member of (Conflict if not)."""
    store = request.app[keys.STORE]
    agent = request[keys.AGENT]
    if await store.role_in(agent, workspace_id) is None:
        raise Conflict("you are not a member of this workspace")
    session = request[keys.SESSION]
    await store.choose_workspace(session["_id"], workspace_id)
    request.app[keys.SESSIONS].forget(session_id=session["_id"])


async def add_existing(
    request: web.Request, workspace_id: str, email: str, role: str
) -> dict[str, Any] | None:
    """Add the agent with this email to the workspace; None when nobody has it (invite
    them instead). Conflict when they are a member already."""
    store = request.app[keys.STORE]
    found = await store.agent_by_email(email)
    if found is None:
        return None
    await store.add_member(workspace_id, found, role, request[keys.AGENT]["_id"])
    request.app[keys.SESSIONS].forget(agent_id=found["_id"])  # other replicas: within 2 s
    return found


async def remove(request: web.Request, workspace_id: str, agent_id: str) -> None:
    await request.app[keys.STORE].remove_member(workspace_id, agent_id)
    await membership_changed(request, agent_id)


async def membership_changed(request: web.Request, agent_id: str) -> None:
    """Every replica reads the agent's sessions again and closes their sockets (a page
    reconnects, as a member of what it still may see)."""
    await request.app[keys.HUB].agent_disabled(agent_id)

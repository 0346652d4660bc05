"""The names an inbox row shows beside ids: the workspace's labels (asked of chat) and
its agents (the dashboard's own), kept `TTL` seconds per workspace; a label change
announced on the agent socket (`labels.changed`) forgets the workspace's copy."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from services.dashboard import keys
from services.dashboard.ask import ask
from shared.errors import BusError
from shared.schema import chat_requests as rq

TTL = 10.0
_CACHE: web.AppKey[dict[str, tuple[float, dict[str, Any]]]] = web.AppKey("dashboard_directory")


def setup(app: web.Application) -> None:
    app[_CACHE] = {}


def forget(app: web.Application, workspace_id: str) -> None:
    app[_CACHE].pop(workspace_id, None)


async def labels_of(app: web.Application, workspace_id: str) -> list[dict[str, Any]]:
    """The workspace's labels `{id, name, colour}` by name (none when chat is away)."""
    try:
        found = await ask(app, "chat", "labels.list", rq.LabelsList(workspace_id=workspace_id))
    except BusError:
        return []
    labels = found.get("labels") if isinstance(found, dict) else None
    return [
        lab for lab in labels or [] if isinstance(lab, dict) and lab.get("colour") in rq.COLOURS
    ]


async def directory(app: web.Application, workspace_id: str) -> dict[str, Any]:
    """`{labels: {id: label}, agents: {id: name}, label_list: [label]}` for rows."""
    cache = app[_CACHE]
    kept = cache.get(workspace_id)
    if kept and time.monotonic() - kept[0] < TTL:
        return kept[1]
    labels = await labels_of(app, workspace_id)
    agents = await app[keys.STORE].agents(workspace_id)
    found = {
        "labels": {lab["id"]: lab for lab in labels},
        "label_list": labels,
        "agents": {a["_id"]: a.get("name") or a.get("email") or "Agent" for a in agents},
    }
    cache[workspace_id] = (time.monotonic(), found)
    return found

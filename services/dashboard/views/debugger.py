"""The event debugger (admins): the workspace's latest events as the gateway took them.

`GET /debugger` renders the newest `SHOWN` entries (accepted, or refused with the reason);
its script (static/debugger.js) asks `GET /debugger/events?after=<seq>` every few seconds
and appends what came since, text only.
"""

from __future__ import annotations

from aiohttp import web

from services.dashboard.auth import require_admin, workspace_id
from services.dashboard.debug_feed import FEED
from services.dashboard.render import render

SHOWN = 100
POLL_MS = 2000


def _after(request: web.Request) -> int:
    raw = request.query.get("after", "0")
    if not raw.isdigit() or len(raw) > 18:
        raise web.HTTPBadRequest(text="after must be a sequence number\n")
    return int(raw)


async def debugger_page(request: web.Request) -> web.Response:
    require_admin(request)
    seen = request.app[FEED].latest(workspace_id(request), limit=SHOWN)
    return render(
        request,
        "debugger.html",
        {
            "active": "debugger",
            "rows": list(reversed(seen)),  # newest first
            "last": seen[-1].seq if seen else 0,
            "shown": SHOWN,
            "poll_ms": POLL_MS,
        },
    )


async def debugger_events(request: web.Request) -> web.Response:
    require_admin(request)
    seen = request.app[FEED].latest(workspace_id(request), after=_after(request), limit=SHOWN)
    return web.json_response(
        {"entries": [s.to_json() for s in seen], "last": seen[-1].seq if seen else None}
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/debugger", debugger_page)
    app.router.add_get("/debugger/events", debugger_events)

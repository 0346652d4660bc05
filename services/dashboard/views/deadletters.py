"""Dead letters of the admin's workspace: what could never be applied, and a retry."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from services.dashboard.auth import require_admin, workspace_id
from services.dashboard.render import render
from shared import deadletters
from shared.web import BUS

LIMIT = 100


async def deadletters_page(request: web.Request) -> web.Response:
    require_admin(request)
    letters = await deadletters.listing(
        request.app[BUS], workspace_id=workspace_id(request), limit=LIMIT
    )
    rows = [{"letter": letter, "at": datetime.fromtimestamp(letter.at, UTC)} for letter in letters]
    return render(
        request,
        "deadletters.html",
        {
            "active": "deadletters",
            "rows": rows,
            "limit": LIMIT,
            "retried": request.query.get("retried"),
        },
    )


async def retry(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    try:
        seq = int(request.match_info["seq"])
    except ValueError as exc:
        raise web.HTTPNotFound() from exc
    bus = request.app[BUS]
    letter = await deadletters.get(bus, seq)
    # another workspace's dead letter is not this admin's to see or replay
    if letter is None or letter.workspace_id != workspace_id(request):
        raise web.HTTPNotFound(text="No such dead letter (retried already?).\n")
    await deadletters.replay(bus, letter)
    raise web.HTTPSeeOther(f"/deadletters?retried={seq}")


def setup(app: web.Application) -> None:
    app.router.add_get("/deadletters", deadletters_page)
    app.router.add_post("/deadletters/{seq}/retry", retry)

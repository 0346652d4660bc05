"""Suppressions (admins): the ids of persons deleted with suppression, how many of their
events the gateways dropped since, and "Lift" (shared/suppressions.py)."""

from __future__ import annotations

from aiohttp import web

from services.dashboard import audit
from services.dashboard.auth import require_admin, workspace_id
from services.dashboard.render import render
from shared import suppressions
from shared.web import BUS


async def page(request: web.Request) -> web.Response:
    require_admin(request)
    found = await suppressions.of_workspace(request.app[BUS], workspace_id(request))
    return render(
        request,
        "suppressions.html",
        {
            "active": "suppressions",
            "suppressions": [s.view() for s in found],
            "lifted": request.query.get("lifted") == "1",
        },
    )


async def lift(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    sid = request.match_info["sid"][:64]
    if not await suppressions.lift(request.app[BUS], workspace_id(request), sid):
        raise web.HTTPNotFound(text="No such suppression (lifted already?).\n")
    await audit.record(request, "suppression.lifted", suppression=sid)
    raise web.HTTPSeeOther("/suppressions?lifted=1")


def setup(app: web.Application) -> None:
    app.router.add_get("/suppressions", page)
    app.router.add_post("/suppressions/{sid}/lift", lift)

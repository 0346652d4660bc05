"""The audit log (admins): who did what, when, from which IP; newest first, by cursor."""

from __future__ import annotations

from aiohttp import web

from services.dashboard import keys
from services.dashboard.audit import ACTIONS
from services.dashboard.auth import require_admin, workspace_id
from services.dashboard.render import render

MAX_CURSOR = 300


async def audit_page(request: web.Request) -> web.Response:
    require_admin(request)
    cursor = request.query.get("cursor") or None
    if cursor is not None and len(cursor) > MAX_CURSOR:
        raise web.HTTPBadRequest(text="Not a page of the audit log.\n")
    try:
        records, next_cursor = await request.app[keys.STORE].audit_page(
            workspace_id(request), cursor
        )
    except ValueError:
        raise web.HTTPBadRequest(text="Not a page of the audit log.\n") from None
    return render(
        request,
        "audit.html",
        {
            "active": "audit",
            "records": records,
            "next_cursor": next_cursor,
            "first_page": cursor is None,
            "labels": ACTIONS,
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/audit", audit_page)

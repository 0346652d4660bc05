"""Your notifications (every agent, for themselves): how the dashboard tells them of a
visitor message nobody answered (a browser notification, a sound, the tab title)."""

from __future__ import annotations

from aiohttp import web

from services.dashboard import keys
from services.dashboard.auth import current_agent, workspace_id
from services.dashboard.render import render
from services.dashboard.store import NOTIFY_CHANNELS


async def notifications_page(request: web.Request) -> web.Response:
    saved = request.query.get("saved") == "1"
    return render(request, "notifications.html", {"active": "notifications", "saved": saved})


async def save_notifications(request: web.Request) -> web.Response:
    agent = current_agent(request)
    form = await request.post()
    channels = {name: form.get(name) == "on" for name in NOTIFY_CHANNELS}
    await request.app[keys.STORE].set_notify(workspace_id(request), agent["_id"], channels)
    raise web.HTTPSeeOther("/me/notifications?saved=1")


def setup(app: web.Application) -> None:
    app.router.add_get("/me/notifications", notifications_page)
    app.router.add_post("/me/notifications", save_notifications)

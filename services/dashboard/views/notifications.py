"""Your notifications (every agent, for themselves): how Parley tells them of a visitor
message nobody answered (a browser notification, a sound, the tab title, and an email
from the mail service when nobody has read it after PARLEY_AGENT_NOTIFY_DELAY_S)."""

from __future__ import annotations

from aiohttp import web

from services.dashboard import keys
from services.dashboard.auth import current_agent, workspace_id
from services.dashboard.render import render
from services.dashboard.store import NOTIFY_CHANNELS
from shared.web import SETTINGS


async def notifications_page(request: web.Request) -> web.Response:
    context = {
        "active": "notifications",
        "saved": request.query.get("saved") == "1",
        "agent_notify_delay": _minutes(request.app[SETTINGS].mail.agent_notify_delay_s),
    }
    return render(request, "notifications.html", context)


def _minutes(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} seconds"
    return f"{seconds / 60:g} minutes"


async def your_settings(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/me/notifications")


async def save_notifications(request: web.Request) -> web.Response:
    agent = current_agent(request)
    form = await request.post()
    channels = {name: form.get(name) == "on" for name in NOTIFY_CHANNELS}
    await request.app[keys.STORE].set_notify(workspace_id(request), agent["_id"], channels)
    request.app[keys.SESSIONS].forget(agent_id=agent["_id"])  # the next page shows them
    raise web.HTTPSeeOther("/me/notifications?saved=1")


def setup(app: web.Application) -> None:
    app.router.add_get("/me", your_settings)
    app.router.add_get("/me/notifications", notifications_page)
    app.router.add_post("/me/notifications", save_notifications)

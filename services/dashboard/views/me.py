"""`/me`: the signed-in agent's own settings: email notifications about visitor
messages nobody read (sent by the mail service after PARLEY_AGENT_NOTIFY_DELAY_S)."""

from __future__ import annotations

from aiohttp import web

from services.dashboard import keys
from services.dashboard.auth import current_agent
from services.dashboard.render import render


async def me_page(request: web.Request) -> web.Response:
    agent = current_agent(request)
    context = {
        "active": "me",
        "notify_email": agent.get("notify_email", True),
        "saved": request.query.get("saved"),
    }
    return render(request, "me.html", context)


async def save_notifications(request: web.Request) -> web.StreamResponse:
    agent = current_agent(request)
    form = await request.post()
    await request.app[keys.STORE].set_email_notifications(agent["_id"], form.get("email") == "on")
    raise web.HTTPSeeOther("/me?saved=1")


def setup(app: web.Application) -> None:
    app.router.add_get("/me", me_page)
    app.router.add_post("/me/notifications", save_notifications)

"""The Mail page (admins): the mail catcher's emails, asked of the mail service over NATS,
each readable (text, and the HTML in a sandboxed frame with its own CSP) and answerable
with "Reply", which the mail service delivers by SMTP to its own inbound listener."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from services.dashboard.ask import Notices, ask
from services.dashboard.render import render
from services.dashboard.workspaces import require_operator
from shared.errors import BusError

CAUGHT_ID = re.compile(r"^[0-9]{13}-[0-9a-f]{32}$")
# the email's own HTML: no script, no network, nothing but its inline styles; links open
# in a new tab (the sandbox lets popups escape it)
EMAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; "
    "form-action 'none'; sandbox allow-popups allow-popups-to-escape-sandbox"
)
HEAD = re.compile(r"<head[^>]*>", re.I)


def _caught_id(request: web.Request) -> str:
    caught_id = request.match_info["caught_id"]
    if not CAUGHT_ID.match(caught_id):
        raise web.HTTPNotFound()
    return caught_id


async def _get(request: web.Request, caught_id: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = await ask(request.app, "mail", "caught.get", {"id": caught_id})
    except BusError as exc:
        if exc.code == "not_found":
            raise web.HTTPNotFound(text="No such email.\n") from exc
        raise
    return found


async def mail_page(request: web.Request) -> web.Response:
    require_operator(request)
    notices = Notices(request.app)
    caught = await notices.ask(
        "mail", "caught.list", {}, {"emails": [], "catching": True}, "the caught emails"
    )
    return render(
        request,
        "mail.html",
        {"active": "mail", "caught": caught, "notices": notices.items},
    )


async def mail_message(request: web.Request) -> web.Response:
    require_operator(request)
    email = await _get(request, _caught_id(request))
    context = {"active": "mail", "email": email, "replied": request.query.get("replied")}
    return render(request, "mail_message.html", context)


async def mail_html(request: web.Request) -> web.Response:
    require_operator(request)
    email = await _get(request, _caught_id(request))
    body = str(email.get("html") or "")
    base = '<base target="_blank">'
    body = (
        HEAD.sub(lambda m: m.group(0) + base, body, count=1) if HEAD.search(body) else base + body
    )
    return web.Response(
        text=body,
        content_type="text/html",
        headers={"Content-Security-Policy": EMAIL_CSP, "X-Frame-Options": "SAMEORIGIN"},
    )


async def mail_reply(request: web.Request) -> web.StreamResponse:
    require_operator(request)
    caught_id = _caught_id(request)
    form = await request.post()
    text = str(form.get("text", "")).strip()
    if not text:
        raise web.HTTPSeeOther(f"/mail/{caught_id}")
    try:
        await ask(request.app, "mail", "caught.reply", {"id": caught_id, "text": text})
    except BusError as exc:
        if exc.code == "not_found":
            raise web.HTTPNotFound(text="No such email.\n") from exc
        raise
    raise web.HTTPSeeOther(f"/mail/{caught_id}?replied=1")


def setup(app: web.Application) -> None:
    app.router.add_get("/mail", mail_page)
    app.router.add_get("/mail/{caught_id}", mail_message)
    app.router.add_get("/mail/{caught_id}/html", mail_html)
    app.router.add_post("/mail/{caught_id}/reply", mail_reply)

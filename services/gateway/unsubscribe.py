"""`/u/<token>`: the unsubscribe link of the visitor's emails (services/mail).

GET shows a confirmation with one button (a link scanner that follows links must not
unsubscribe anyone); POST unsubscribes, the button's and RFC 8058's one-click
(`List-Unsubscribe-Post: List-Unsubscribe=One-Click`, posted by the mail client).
The token is checked by mail, which owns the address list.
"""

from __future__ import annotations

import html

from aiohttp import web

from shared.errors import BusError
from shared.web import BUS

MAX_TOKEN = 1024
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><meta name="robots" content="noindex">
<title>{title}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem">
<h1 style="font-size:1.3rem">{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=PAGE.format(title=html.escape(title), body=body),
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


async def confirm(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    if len(token) > MAX_TOKEN:
        return _page("This link is not valid", "", 400)
    form = (
        f'<form method="post" action="/u/{html.escape(token)}">'
        "<p>You will get no more emails about your conversations with us. "
        "You can still chat on our site.</p>"
        '<button type="submit">Stop emails</button></form>'
    )
    return _page("Stop emails about conversations?", form)


async def unsubscribe(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    if len(token) > MAX_TOKEN:
        return _page("This link is not valid", "", 400)
    bus = request.app[BUS]
    try:
        result = await bus.request(bus.subjects.request("mail", "unsubscribe"), {"token": token})
    except BusError as exc:
        if exc.code in ("unavailable", "timeout"):
            return _page("Please try again in a moment", "<p>We could not do it just now.</p>", 503)
        return _page("This link is not valid", "<p>It may have been altered.</p>", 400)
    email = html.escape(str(result.get("email", "")))
    return _page("You're unsubscribed", f"<p>{email} will get no more conversation emails.</p>")


def setup(app: web.Application) -> None:
    app.router.add_get("/u/{token}", confirm)
    app.router.add_post("/u/{token}", unsubscribe)

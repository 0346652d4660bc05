"""The agents' dashboard (aiohttp + jinja2)."""

from __future__ import annotations

from aiohttp import web

from shared.settings import Settings
from shared.web import add_mongo, add_workspaces, create_base_app

SIGN_IN = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Parley — sign in</title></head>
<body><main><h1>Sign in to Parley</h1><form method="post" action="/login">
<label>Email <input name="email" type="email" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form></main></body></html>"""


async def sign_in_page(request: web.Request) -> web.Response:
    return web.Response(text=SIGN_IN, content_type="text/html")


def create_app(settings: Settings) -> web.Application:
    app = create_base_app("dashboard", settings)
    add_workspaces(app)
    add_mongo(app, indexes={})
    app.router.add_get("/", sign_in_page)
    return app

"""`GET /c/<token>`: the page a continue link opens, with the widget on that one conversation.

The token (shared/continuity.py) is checked here and again by the socket's hello:
a valid one gets a page whose widget sends it instead of a visitor token (and keeps
nothing in this browser's storage), an expired, forged or foreign one a page saying
so and how to write again. The token is in the address, so the page is never cached
and sends no Referer anywhere.
"""

from __future__ import annotations

import secrets
from typing import Any

import jinja2
import nats.errors
from aiohttp import web

from services.gateway.visitor.grant import open_grant
from shared.errors import BusError
from shared.snippet import install_snippet
from shared.web import BUS, SETTINGS, WORKSPACES

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("services.gateway.continue_link", "templates"),
    autoescape=True,
)


def _headers(nonce: str) -> dict[str, str]:
    csp = (
        f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self' ws: wss:; img-src 'self' https: data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex",
    }


def _render(name: str, status: int, nonce: str | None = None, **context: Any) -> web.Response:
    nonce = nonce or secrets.token_urlsafe(16)
    html = TEMPLATES.get_template(name).render(nonce=nonce, **context)
    return web.Response(text=html, status=status, content_type="text/html", headers=_headers(nonce))


async def continue_page(request: web.Request) -> web.Response:
    app = request.app
    token = request.match_info["token"]
    try:
        granted = await open_grant(app[BUS], app[SETTINGS].token_secrets, token)
    except (BusError, nats.errors.Error):
        return _render("unavailable.html", 503)
    workspace = app[WORKSPACES].get(granted.workspace_id) if granted else None
    if granted is None or workspace is None:
        return _render("expired.html", 410)
    nonce = secrets.token_urlsafe(16)
    # no host: the page's own origin, as the browser sees it (https behind a TLS proxy too)
    snippet = install_snippet("", workspace.write_key, {"continueToken": token}, nonce)
    return _render("continue.html", 200, nonce, workspace_name=workspace.name, snippet=snippet)


def setup(app: web.Application) -> None:
    app.router.add_get("/c/{token}", continue_page)

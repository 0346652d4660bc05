"""The demo site `/demo/`: a fake product ("Acme Notes") showing Sally's whole journey.

Sign up calls `parley.alias`, Log in calls `parley.identify`, both with a user_hash
computed here, server side, with the workspace's identity secret; Log out calls
`parley.reset()`. There are no accounts: any email and password "work", and the
signed-in user lives only in a signed cookie.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jinja2
from aiohttp import web

from shared.identifiers import normalize_email
from shared.security import sign_token, user_hash, verify_token
from shared.snippet import install_snippet
from shared.web import SETTINGS, WORKSPACES
from shared.workspaces import DEFAULT_WORKSPACE_ID

COOKIE = "acme_session"
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("services.gateway.demo", "templates"),
    autoescape=True,
)
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self' ws: wss:; img-src 'self' https: data:; frame-ancestors 'none'"
)


def _secret(request: web.Request) -> str:
    return request.app[SETTINGS].token_secret + ":demo"


def user_id_for(email: str) -> str:
    """The demo's user ids: stable per email, so a login on another device finds Sally."""
    return "user_" + hashlib.sha256(email.encode()).hexdigest()[:16]


def current_user(request: web.Request) -> dict[str, Any] | None:
    claims = verify_token(_secret(request), request.cookies.get(COOKIE))
    return claims if claims and claims.get("uid") else None


def render(request: web.Request, name: str, **context: Any) -> web.Response:
    workspace = request.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID)
    host = f"{request.scheme}://{request.host}"
    context.setdefault("user", current_user(request))
    snippet = install_snippet(host, workspace.write_key if workspace else "")
    html = TEMPLATES.get_template(name).render(snippet=snippet, **context)
    return web.Response(
        text=html, content_type="text/html", headers={"Content-Security-Policy": CSP}
    )


def _hash(request: web.Request, uid: str) -> str:
    workspace = request.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID)
    return user_hash(workspace.identity_secret, uid) if workspace else ""


async def home(request: web.Request) -> web.Response:
    return render(request, "home.html")


async def pricing(request: web.Request) -> web.Response:
    return render(request, "pricing.html")


async def form_page(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    return render(request, "form.html", kind=kind, email="", error=None)


async def form_post(request: web.Request) -> web.StreamResponse:
    kind = request.match_info["kind"]
    form = await request.post()
    email = normalize_email(str(form.get("email", ""))[:254])
    password = str(form.get("password", ""))
    if not email or not password:
        error = "Enter an email address and a password."
        return render(request, "form.html", kind=kind, email=form.get("email", ""), error=error)
    token = sign_token(_secret(request), {"uid": user_id_for(email), "email": email}, 7 * 86400)
    response = web.HTTPSeeOther(f"/demo/account?welcome={kind}")
    response.set_cookie(COOKIE, token, httponly=True, samesite="Lax", path="/demo")
    raise response


async def account(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    if user is None:
        raise web.HTTPSeeOther("/demo/login")
    welcome = request.query.get("welcome")
    call = welcome if welcome in ("signup", "login") else None
    return render(
        request, "account.html", call=call, uid=user["uid"], user_hash=_hash(request, user["uid"])
    )


async def logout(request: web.Request) -> web.StreamResponse:
    response = render(request, "logout.html", user=None)
    response.del_cookie(COOKIE, path="/demo")
    return response


async def to_demo(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/demo/")


def setup(app: web.Application) -> None:
    """Mounted only with PARLEY_DEMO on: it signs `user_hash`es for anyone who asks."""
    if not app[SETTINGS].demo:
        return
    app.router.add_get("/demo", to_demo)
    app.router.add_get("/demo/", home)
    app.router.add_get("/demo/pricing", pricing)
    app.router.add_get("/demo/{kind:signup|login}", form_page)
    app.router.add_post("/demo/{kind:signup|login}", form_post)
    app.router.add_get("/demo/account", account)
    app.router.add_get("/demo/logout", logout)

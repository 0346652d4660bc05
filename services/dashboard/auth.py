"""Sessions, CSRF and origin checks for every request of the dashboard.

- The session cookie is HttpOnly, SameSite=Lax (Secure when configured) and names a
  server-side session; its CSRF token must come back on every state change, in the
  form field `csrf` or the `X-CSRF-Token` header.
- Before sign-in (the sign-in and invitation forms) a double-submit cookie stands in.
- A state change whose Origin is not the dashboard's own is refused outright.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from services.dashboard import keys
from shared.security import constant_time_equals, origin_of
from shared.web import SETTINGS

SESSION_COOKIE = "parley_session"
LOGIN_CSRF_COOKIE = "parley_login_csrf"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PUBLIC_PATHS = {"/", "/login", "/healthz", "/readyz", "/metrics", "/favicon.ico"}
PUBLIC_PREFIXES = ("/static/", "/invite/", "/password/")
# multipart forms whose view reads the body as a stream, bounded as it reads, and checks
# the CSRF field (sent first) itself with `streamed_csrf_ok`
STREAMED_FORMS = {"/me/avatar"}


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path == "/ws"


def allowed_origins(request: web.Request) -> set[str]:
    own = f"{request.scheme}://{request.host}".lower()
    return {origin_of(request.app[SETTINGS].dashboard_url), own}


def same_origin(request: web.Request) -> bool:
    """True unless the browser says the request came from another site."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin.lower() in allowed_origins(request)
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


def refuse(request: web.Request, status: int, code: str, message: str) -> web.Response:
    if wants_json(request):
        return web.json_response({"code": code, "message": message}, status=status)
    return web.Response(text=f"{message}\n", status=status, content_type="text/plain")


async def submitted_csrf(request: web.Request) -> str:
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()  # aiohttp caches it, so the view reads it again for free
        value = form.get("csrf")
        return value if isinstance(value, str) else ""
    return ""


def refuse_csrf(request: web.Request) -> web.Response:
    return refuse(request, 403, "csrf", "Missing or invalid CSRF token. Reload the page.")


def _streamed(request: web.Request) -> bool:
    return (
        request.path in STREAMED_FORMS
        and request.content_type == "multipart/form-data"
        and keys.SESSION in request
    )


def streamed_csrf_ok(request: web.Request, given: str) -> bool:
    """For a STREAMED_FORMS view: the form's CSRF field against the session's token."""
    expected = request.get(keys.STREAMED_CSRF, "")
    return bool(expected and given) and constant_time_equals(expected, given)


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=request.app[SETTINGS].secure_cookies,
        path="/",
        max_age=7 * 86400,
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


def login_csrf(request: web.Request) -> str:
    """The double-submit token of the sign-in and invitation forms (set by the middleware)."""
    return request[keys.LOGIN_CSRF]


async def _load_session(request: web.Request) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return
    signed_in = await request.app[keys.SESSIONS].signed_in(token)
    if signed_in is None:
        return
    request[keys.SESSION] = signed_in.session
    request[keys.AGENT] = signed_in.agent


@web.middleware
async def session_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    await _load_session(request)
    pre = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    request[keys.LOGIN_CSRF] = pre if 20 <= len(pre) <= 100 else secrets.token_urlsafe(32)

    if request.method not in SAFE_METHODS:
        if not same_origin(request):
            return refuse(request, 403, "bad_origin", "Cross-site request refused.")
        session = request.get(keys.SESSION)
        expected = session["csrf"] if session else pre
        if _streamed(request):
            request[keys.STREAMED_CSRF] = expected  # the view checks the field it reads first
        else:
            given = await submitted_csrf(request)
            if not expected or not given or not constant_time_equals(expected, given):
                return refuse_csrf(request)

    if keys.AGENT not in request and not is_public(request.path):
        if wants_json(request):
            return refuse(request, 401, "unauthenticated", "Sign in first.")
        raise web.HTTPSeeOther("/")

    response = await handler(request)
    if request[keys.LOGIN_CSRF] != pre and keys.AGENT not in request:
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            request[keys.LOGIN_CSRF],
            httponly=True,
            samesite="Strict",
            secure=request.app[SETTINGS].secure_cookies,
            path="/",
        )
    return response


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)


@web.middleware
async def headers_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _secure(exc, request)
        raise
    _secure(response, request)
    return response


def _secure(response: web.StreamResponse, request: web.Request) -> None:
    if response.prepared:
        return  # websockets and streams have sent their headers already
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")


def require_admin(request: web.Request) -> dict[str, Any]:
    agent = request[keys.AGENT]
    if agent.get("role") != "admin":
        raise web.HTTPForbidden(text="Only admins can do this.\n")
    return agent


def current_agent(request: web.Request) -> dict[str, Any]:
    return request[keys.AGENT]


def workspace_id(request: web.Request) -> str:
    return request[keys.AGENT].get("workspace_id") or "default"

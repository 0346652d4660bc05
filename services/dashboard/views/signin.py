"""Sign-in, sign-out and accepting an invitation."""

from __future__ import annotations

from aiohttp import web

from services.dashboard import audit, keys
from services.dashboard.auth import (
    SESSION_COOKIE,
    clear_session_cookie,
    set_session_cookie,
)
from services.dashboard.render import render
from services.dashboard.store import Conflict
from services.dashboard.throttle import Verdict
from shared.proxies import client_ip

MIN_PASSWORD = 10
MAX_FIELD = 300


async def sign_in_page(request: web.Request) -> web.StreamResponse:
    if keys.AGENT in request:
        raise web.HTTPSeeOther("/inbox")
    context = {"email": "", "error": None, "reset": request.query.get("reset")}
    return render(request, "signin.html", context)


async def sign_in(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    email = str(form.get("email", "")).strip().lower()[:MAX_FIELD]
    password = str(form.get("password", ""))[:MAX_FIELD]
    ip = client_ip(request)
    throttle = request.app[keys.THROTTLE]
    store = request.app[keys.STORE]

    verdict = await throttle.attempt(email, ip)
    if verdict.wait:
        return await _throttled(request, email, verdict)

    agent = await store.authenticate(email, password) if email else None
    if agent is None:
        ws = await audit.workspace_of_email(store, email)
        await audit.record(request, "signin.failed", workspace_id=ws, email=email)
        error = "Wrong email or password."
        return render(request, "signin.html", {"email": email, "error": error}, status=401)

    await throttle.succeeded(email, ip)
    await audit.record(request, "signin", actor=agent)
    return await _start_session(request, agent)


async def _throttled(request: web.Request, email: str, verdict: Verdict) -> web.Response:
    if verdict.locked_now:  # one record per lock, not one per refused guess
        ws = await audit.workspace_of_email(request.app[keys.STORE], email)
        await audit.record(
            request,
            "signin.throttled",
            workspace_id=ws,
            email=email,
            locked=", ".join(k.split(":", 1)[0] for k in verdict.locked_now),
            retry_after=verdict.wait,
        )
    minutes = max(1, round(verdict.wait / 60))
    error = f"Too many failed sign-ins. Try again in {minutes} minute{'s' * (minutes > 1)}."
    response = render(request, "signin.html", {"email": email, "error": error}, status=429)
    response.headers["Retry-After"] = str(verdict.wait)
    return response


async def _start_session(request: web.Request, agent: dict) -> web.StreamResponse:
    token, _csrf = await request.app[keys.STORE].create_session(
        agent["_id"], client_ip(request), request.headers.get("User-Agent", "")
    )
    response = web.HTTPSeeOther("/inbox")
    set_session_cookie(response, request, token)
    raise response


async def sign_out(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await request.app[keys.STORE].end_session(token)
        await audit.record(request, "signout")
        await request.app[keys.HUB].session_ended(request[keys.SESSION]["_id"])
    response = web.HTTPSeeOther("/")
    clear_session_cookie(response)
    raise response


async def invitation_page(request: web.Request) -> web.StreamResponse:
    invitation = await request.app[keys.STORE].invitation(request.match_info["token"])
    if invitation is None:
        return render(request, "invite.html", {"invitation": None, "error": None}, status=404)
    return render(request, "invite.html", {"invitation": invitation, "error": None})


async def accept_invitation(request: web.Request) -> web.StreamResponse:
    store = request.app[keys.STORE]
    token = request.match_info["token"]
    invitation = await store.invitation(token)
    if invitation is None:
        return render(request, "invite.html", {"invitation": None, "error": None}, status=404)
    form = await request.post()
    name = str(form.get("name", "")).strip()[:100]
    password = str(form.get("password", ""))[:MAX_FIELD]
    error = None
    if len(password) < MIN_PASSWORD:
        error = f"Choose a password of at least {MIN_PASSWORD} characters."
    elif not name:
        error = "Tell your colleagues your name."
    if error:
        return render(
            request, "invite.html", {"invitation": invitation, "error": error}, status=400
        )
    try:
        agent = await store.accept_invitation(token, name, password)
    except Conflict as exc:
        return render(request, "invite.html", {"invitation": None, "error": str(exc)}, status=409)
    await audit.record(request, "invitation.accepted", actor=agent, role=agent["role"])
    return await _start_session(request, agent)


def setup(app: web.Application) -> None:
    app.router.add_get("/", sign_in_page)
    app.router.add_post("/login", sign_in)
    app.router.add_post("/logout", sign_out)
    app.router.add_get("/invite/{token}", invitation_page)
    app.router.add_post("/invite/{token}", accept_invitation)

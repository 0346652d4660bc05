"""Forgotten passwords: a reset link by email (the mail service), single-use, one hour;
using it sets the new password and ends every other session of the agent.

The "forgot" form answers the same whether or not the address has an account (no
way to learn who works here), and counts against the sign-in throttle like a guess."""

from __future__ import annotations

from aiohttp import web

from services.dashboard import audit, keys, team_mail
from services.dashboard.render import render
from services.dashboard.store import digest
from services.dashboard.store.resets import RESET_TTL
from services.dashboard.views.signin import MAX_FIELD, MIN_PASSWORD
from shared.identifiers import normalize_email
from shared.proxies import client_ip
from shared.web import SETTINGS

SENT = "If that address has an account, we emailed it a link to choose a new password."


async def forgot_page(request: web.Request) -> web.Response:
    return render(request, "password_forgot.html", {"done": None, "error": None})


async def forgot(request: web.Request) -> web.Response:
    form = await request.post()
    email = normalize_email(str(form.get("email", ""))[:MAX_FIELD])
    throttle = request.app[keys.THROTTLE]
    verdict = await throttle.attempt(email or "", client_ip(request))
    if verdict.wait:
        error = "Too many attempts. Try again later."
        return render(request, "password_forgot.html", {"done": None, "error": error}, status=429)
    store = request.app[keys.STORE]
    agent = await store.agent_by_email(email) if email else None
    if agent is not None and agent.get("active", True):
        token = await store.create_reset(agent, digest)
        link = f"{request.app[SETTINGS].dashboard_url}/password/reset/{token}"
        await team_mail.send(
            request.app,
            "password_reset",
            agent["email"],
            token,
            link,
            workspace_id=agent.get("workspace_id") or "default",
            ttl_minutes=int(RESET_TTL.total_seconds() // 60),
        )
        await audit.record(request, "password.reset_requested", actor=agent)
    return render(request, "password_forgot.html", {"done": SENT, "error": None})


async def reset_page(request: web.Request) -> web.Response:
    reset = await request.app[keys.STORE].reset_of(request.match_info["token"], digest)
    status = 200 if reset else 404
    return render(
        request, "password_reset.html", {"valid": bool(reset), "error": None}, status=status
    )


async def reset(request: web.Request) -> web.StreamResponse:
    store = request.app[keys.STORE]
    token = request.match_info["token"]
    form = await request.post()
    password = str(form.get("password", ""))[:MAX_FIELD]
    if len(password) < MIN_PASSWORD:
        error = f"Choose a password of at least {MIN_PASSWORD} characters."
        valid = await store.reset_of(token, digest) is not None
        return render(request, "password_reset.html", {"valid": valid, "error": error}, status=400)
    agent_id = await store.use_reset(token, password, digest)
    if agent_id is None:
        return render(request, "password_reset.html", {"valid": False, "error": None}, status=404)
    await request.app[keys.HUB].agent_disabled(agent_id)  # their open sockets close too
    agent = await store.agent(agent_id)
    await audit.record(request, "password.reset", actor=agent)
    raise web.HTTPSeeOther("/?reset=1")


def setup(app: web.Application) -> None:
    app.router.add_get("/password/forgot", forgot_page)
    app.router.add_post("/password/forgot", forgot)
    app.router.add_get("/password/reset/{token}", reset_page)
    app.router.add_post("/password/reset/{token}", reset)

"""Your profile (every agent, for themselves): the name colleagues see, the time zone
every time in the dashboard is shown in, and a password change that ends the agent's
other sessions on every dashboard replica (this one stays signed in)."""

from __future__ import annotations

from aiohttp import web

from services.dashboard import audit, keys
from services.dashboard.auth import current_agent, workspace_id
from services.dashboard.avatars import MAX_BYTES
from services.dashboard.render import render
from services.dashboard.store.profile import MAX_NAME, time_zones, valid_zone
from services.dashboard.views.signin import MAX_FIELD, MIN_PASSWORD
from shared.proxies import client_ip


def page(request: web.Request, status: int = 200, **context: object) -> web.Response:
    base = {
        "active": "profile",
        "saved": request.query.get("saved"),
        "zones": time_zones(),
        "max_name": MAX_NAME,
        "min_password": MIN_PASSWORD,
        "error": None,
        "change_error": None,
        "avatar_error": None,
        "max_avatar_mb": MAX_BYTES // (1024 * 1024),
    }
    return render(request, "me_profile.html", {**base, **context}, status=status)


async def profile_page(request: web.Request) -> web.Response:
    return page(request)


async def save_profile(request: web.Request) -> web.Response:
    agent = current_agent(request)
    form = await request.post()
    name = " ".join(str(form.get("name", ""))[:MAX_FIELD].split())
    zone = str(form.get("time_zone", ""))[:MAX_FIELD]
    error = _profile_error(name, zone)
    if error:
        return page(request, 400, error=error)
    await request.app[keys.STORE].set_profile(workspace_id(request), agent["_id"], name, zone)
    request.app[keys.SESSIONS].forget(agent_id=agent["_id"])  # the next page shows them
    raise web.HTTPSeeOther("/me/profile?saved=profile")


def _profile_error(name: str, zone: str) -> str | None:
    if not name:
        return "Tell your colleagues your name."
    if len(name) > MAX_NAME:
        return f"Keep your name to {MAX_NAME} characters."
    if not valid_zone(zone):
        return "Choose a time zone from the list."
    return None


async def save_time_zone(request: web.Request) -> web.Response:
    """The browser's zone on the first visit (live.js), only while the agent never chose."""
    agent = current_agent(request)
    form = await request.post()
    zone = str(form.get("time_zone", ""))[:MAX_FIELD]
    if not valid_zone(zone):
        raise web.HTTPBadRequest(text="Unknown time zone.\n")
    if not agent.get("time_zone"):
        name = agent.get("name") or agent["email"]
        await request.app[keys.STORE].set_profile(workspace_id(request), agent["_id"], name, zone)
        request.app[keys.SESSIONS].forget(agent_id=agent["_id"])
    return web.json_response({"time_zone": agent.get("time_zone") or zone})


async def change_password(request: web.Request) -> web.Response:
    agent = current_agent(request)
    form = await request.post()
    current = str(form.get("current", ""))[:MAX_FIELD]
    new = str(form.get("password", ""))[:MAX_FIELD]
    if len(new) < MIN_PASSWORD:
        error = f"Choose a password of at least {MIN_PASSWORD} characters."
        return page(request, 400, change_error=error)
    throttle, ip = request.app[keys.THROTTLE], client_ip(request)
    verdict = await throttle.attempt(agent["email"], ip)  # guesses count like sign-in's
    if verdict.wait:
        return page(request, 429, change_error="Too many attempts. Try again later.")
    session_id = request[keys.SESSION]["_id"]
    store = request.app[keys.STORE]
    ended = await store.change_password(agent["_id"], current, new, session_id)
    if ended is None:
        return page(request, 400, change_error="Your current password is not right.")
    await throttle.succeeded(agent["email"], ip)
    hub = request.app[keys.HUB]
    for other in ended:  # their sockets close here and on every other replica
        await hub.session_ended(other)
    await audit.record(request, "password.changed", sessions_ended=len(ended))
    raise web.HTTPSeeOther("/me/profile?saved=password")


def setup(app: web.Application) -> None:
    app.router.add_get("/me/profile", profile_page)
    app.router.add_post("/me/profile", save_profile)
    app.router.add_post("/me/time-zone", save_time_zone)
    app.router.add_post("/me/password", change_password)

"""Your avatar (every agent, for themselves): uploaded on /me/profile as a multipart form
read as a stream (the CSRF field first, the image bounded while it is read), re-encoded by
services/dashboard/avatars.py, served at /avatars/{agent_id}/{version}.png."""

from __future__ import annotations

import asyncio
import re

from aiohttp import BodyPartReader, web

from services.dashboard import audit, avatars, keys
from services.dashboard.auth import current_agent, refuse_csrf, streamed_csrf_ok, workspace_id
from services.dashboard.views.profile import page

MAX_CSRF = 200
_AGENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class _BadCsrf(Exception):
    pass


async def upload_avatar(request: web.Request) -> web.Response:
    agent = current_agent(request)
    try:
        upload = await _read_form(request)
        png = await asyncio.to_thread(avatars.reencode, upload)
    except _BadCsrf:
        return refuse_csrf(request)
    except avatars.Refused as refused:
        return page(request, 400, avatar_error=str(refused))
    store = request.app[keys.STORE]
    await store.set_avatar(workspace_id(request), agent["_id"], png, avatars.version_of(png))
    request.app[keys.SESSIONS].forget(agent_id=agent["_id"])  # the next page shows it
    await audit.record(request, "avatar.changed")
    raise web.HTTPSeeOther("/me/profile?saved=avatar")


async def remove_avatar(request: web.Request) -> web.Response:
    agent = current_agent(request)
    await request.app[keys.STORE].remove_avatar(workspace_id(request), agent["_id"])
    request.app[keys.SESSIONS].forget(agent_id=agent["_id"])
    await audit.record(request, "avatar.removed")
    raise web.HTTPSeeOther("/me/profile?saved=avatar-removed")


async def _read_form(request: web.Request) -> bytes:
    """Phase one: the `csrf` field, which the form sends first; phase two: the `avatar`
    file, never more than MAX_BYTES read."""
    reader = await request.multipart()
    csrf = await reader.next()
    if not isinstance(csrf, BodyPartReader) or csrf.name != "csrf":
        raise _BadCsrf
    token = await _bounded(csrf, MAX_CSRF)
    if token is None or not streamed_csrf_ok(request, token.decode("utf-8", "replace")):
        raise _BadCsrf
    image = await reader.next()
    if not isinstance(image, BodyPartReader) or image.name != "avatar":
        raise avatars.Refused("Choose an image to upload.")
    data = await _bounded(image, avatars.MAX_BYTES)
    if data is None:
        raise avatars.Refused(f"Keep the image under {avatars.MAX_BYTES // (1024 * 1024)} MB.")
    if not data:
        raise avatars.Refused("Choose an image to upload.")
    return data


async def _bounded(part: BodyPartReader, limit: int) -> bytes | None:
    """The part's bytes, or None as soon as it passes `limit`."""
    chunks, size = [], 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def serve_avatar(request: web.Request) -> web.Response:
    agent_id, version = request.match_info["agent_id"], request.match_info["version"]
    if not _AGENT_ID.match(agent_id):
        raise web.HTTPNotFound()
    png = await request.app[keys.STORE].avatar(workspace_id(request), agent_id, version)
    if png is None:
        raise web.HTTPNotFound()
    return web.Response(body=png, content_type="image/png", headers=avatars.SERVED_HEADERS)


def setup(app: web.Application) -> None:
    app.router.add_post("/me/avatar", upload_avatar)
    app.router.add_post("/me/avatar/remove", remove_avatar)
    app.router.add_get("/avatars/{agent_id}/{version:[0-9a-f]{12}}.png", serve_avatar)

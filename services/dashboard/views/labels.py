"""Labels on the settings page (admins): add, rename, recolour, delete; chat owns them
(`label.save`, `label.delete`), the page lists them from `labels.list`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.dashboard import audit, directory
from services.dashboard.ask import ask
from services.dashboard.auth import require_admin, workspace_id
from shared.errors import BusError
from shared.schema import chat_requests as rq

COLOUR_NAMES = {c: c.capitalize() for c in rq.COLOURS}


async def _save(request: web.Request, label_id: str | None) -> dict[str, Any]:
    form = await request.post()
    name = " ".join(str(form.get("name", "")).split())
    colour = str(form.get("colour", ""))
    if not name or len(name) > rq.MAX_LABEL_NAME:
        raise web.HTTPBadRequest(text=f"A label's name has 1 to {rq.MAX_LABEL_NAME} characters.\n")
    if colour not in rq.COLOURS:
        raise web.HTTPBadRequest(text="Choose one of the colours.\n")
    payload = {"workspace_id": workspace_id(request), "name": name, "colour": colour}
    if label_id:
        payload["label_id"] = label_id
    try:
        saved: dict[str, Any] = await ask(request.app, "chat", "label.save", payload)
    except BusError as exc:
        if exc.code in ("invalid", "not_found", "conflict"):
            raise web.HTTPBadRequest(text=f"{exc}\n") from exc
        raise
    directory.forget(request.app, workspace_id(request))
    return saved


async def add_label(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    saved = await _save(request, None)
    await audit.record(request, "label.created", label=saved["id"], name=saved["name"])
    raise web.HTTPSeeOther("/settings?saved=labels#labels")


async def edit_label(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    saved = await _save(request, request.match_info["id"])
    await audit.record(request, "label.changed", label=saved["id"], name=saved["name"])
    raise web.HTTPSeeOther("/settings?saved=labels#labels")


async def delete_label(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    label_id = request.match_info["id"]
    try:
        await ask(
            request.app,
            "chat",
            "label.delete",
            rq.LabelDelete(workspace_id=workspace_id(request), label_id=label_id),
        )
    except BusError as exc:
        if exc.code in ("invalid", "not_found"):
            raise web.HTTPBadRequest(text=f"{exc}\n") from exc
        raise
    directory.forget(request.app, workspace_id(request))
    await audit.record(request, "label.deleted", label=label_id)
    raise web.HTTPSeeOther("/settings?saved=labels#labels")


def setup(app: web.Application) -> None:
    directory.setup(app)
    app.router.add_post("/settings/labels", add_label)
    app.router.add_post("/settings/labels/{id}", edit_label)
    app.router.add_post("/settings/labels/{id}/delete", delete_label)

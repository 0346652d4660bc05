"""Webhook settings (admins): endpoints, topics, enable/disable, the disabled banner, the
secret, the delivery log with Redeliver. The webhooks service keeps them and answers
over NATS (`P.webhooks.endpoints.*`); this page names the admin's workspace."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.dashboard import audit
from services.dashboard.ask import Notices, ask
from services.dashboard.auth import require_admin, workspace_id
from services.dashboard.render import render
from shared.errors import BusError
from shared.schema.webhooks import MAX_URL, TOPICS

MAX_ID = 64
TOPIC_LABELS = {
    "conversation.created": "A conversation starts",
    "conversation.status_changed": "A conversation's status changes",
    "conversation.assigned": "A conversation is assigned",
    "conversation.rated": "A visitor rates a resolved conversation (CSAT)",
    "message.created": "A message is stored (visitor, agent or email)",
    "person.promoted": "A person becomes a contact or a member",
    "person.merged": "Two people are merged",
    "person.unmerged": "A merge is undone (the merged-away person re-created)",
    "person.deleted": "A person is deleted (their data erased)",
}


def _endpoint_id(request: web.Request) -> str:
    endpoint_id = request.match_info["endpoint_id"]
    if len(endpoint_id) > MAX_ID or not endpoint_id.startswith("we_"):
        raise web.HTTPNotFound()
    return endpoint_id


async def _hooks(request: web.Request, verb: str, **payload: Any) -> Any:
    """Ask the webhooks service for this workspace; its `not_found` is the page's 404."""
    try:
        return await ask(
            request.app, "webhooks", verb, {"workspace_id": workspace_id(request), **payload}
        )
    except BusError as exc:
        if exc.code == "not_found":
            raise web.HTTPNotFound(text="No such webhook.\n") from exc
        raise


async def list_page(
    request: web.Request, error: str | None = None, form: dict[str, Any] | None = None
) -> web.Response:
    require_admin(request)
    notices = Notices(request.app)
    found = await notices.ask(
        "webhooks",
        "endpoints.list",
        {"workspace_id": workspace_id(request)},
        {"webhooks": []},
        "the webhooks",
    )
    context = {
        "active": "settings",
        "webhooks": found["webhooks"],
        "topics": TOPIC_LABELS,
        "max_url": MAX_URL,
        "error": error,
        "form": form or {"topics": list(TOPICS), "enabled": True},
        "created": request.query.get("created"),
        "notices": notices.items,
    }
    return render(request, "webhooks.html", context, status=400 if error else 200)


async def create(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    form = await request.post()
    url = str(form.get("url", "")).strip()
    topics = [str(t) for t in form.getall("topics", []) if str(t) in TOPICS]
    enabled = form.get("enabled") == "on"
    payload = {"url": url, "topics": topics, "enabled": enabled}
    if not topics:
        return await list_page(request, "Choose at least one topic.", payload)
    try:
        made = await _hooks(request, "endpoints.create", **payload)
    except BusError as exc:
        if exc.code != "invalid":
            raise
        return await list_page(request, f"Not added: {exc}", payload)
    await audit.record(request, "webhook.created", webhook=made["id"], url=url[:200])
    raise web.HTTPSeeOther(f"/settings/webhooks/{made['id']}?created=1")


async def endpoint_page(request: web.Request) -> web.Response:
    require_admin(request)
    endpoint_id = _endpoint_id(request)
    endpoint = await _hooks(request, "endpoints.get", id=endpoint_id, reveal=True)
    log = await _hooks(request, "endpoints.log", id=endpoint_id)
    context = {
        "active": "settings",
        "endpoint": endpoint,
        "log": log,
        "topics": TOPIC_LABELS,
        "created": request.query.get("created"),
        "done": request.query.get("done"),
    }
    return render(request, "webhook.html", context)


async def change(request: web.Request) -> web.StreamResponse:
    """Enable, disable, rotate the secret, save the topics, redeliver, or delete."""
    require_admin(request)
    endpoint_id = _endpoint_id(request)
    action = request.match_info["action"]
    form = await request.post()
    if action == "enabled":
        on = form.get("enabled") == "true"
        await _hooks(request, "endpoints.update", id=endpoint_id, enabled=on)
    elif action == "topics":
        topics = [str(t) for t in form.getall("topics", []) if str(t) in TOPICS]
        if topics:
            await _hooks(request, "endpoints.update", id=endpoint_id, topics=topics)
    elif action == "rotate":
        await _hooks(request, "endpoints.rotate", id=endpoint_id)
    elif action == "redeliver":
        delivery = str(form.get("delivery_id", ""))[:200]
        await _hooks(request, "endpoints.redeliver", id=endpoint_id, delivery_id=delivery)
    elif action == "delete":
        await _hooks(request, "endpoints.delete", id=endpoint_id)
        await audit.record(request, "webhook.deleted", webhook=endpoint_id)
        raise web.HTTPSeeOther("/settings/webhooks")
    else:
        raise web.HTTPNotFound()
    await audit.record(request, f"webhook.{action}", webhook=endpoint_id)
    raise web.HTTPSeeOther(f"/settings/webhooks/{endpoint_id}?done={action}")


def setup(app: web.Application) -> None:
    app.router.add_get("/settings/webhooks", list_page)
    app.router.add_post("/settings/webhooks", create)
    app.router.add_get("/settings/webhooks/{endpoint_id}", endpoint_page)
    app.router.add_post("/settings/webhooks/{endpoint_id}/{action}", change)

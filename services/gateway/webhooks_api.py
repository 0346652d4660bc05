"""Webhooks API for the product backend (secret key as the Basic username), answered by
the webhooks service over NATS (docs/webhooks.md).

POST   /v1/webhooks        {url, topics, enabled?, description?} -> the endpoint + its secret
GET    /v1/webhooks                                             -> {"webhooks": [...]}
GET    /v1/webhooks/{id}                                        -> the endpoint
DELETE /v1/webhooks/{id}                                        -> {"deleted": true}
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from services.gateway.api_auth import ApiError, caller_for
from shared.errors import BusError
from shared.schema import builtins
from shared.schema.webhooks import WebhookCreate
from shared.web import BUS

MAX_BODY = 16 * 1024
MAX_ID = 64


async def _ask(request: web.Request, verb: str, payload: dict[str, Any]) -> Any:
    bus = request.app[BUS]
    try:
        return await bus.request(bus.subjects.request("webhooks", verb), payload)
    except BusError as exc:
        if exc.code == "not_found":
            raise ApiError(404, "not_found", "no such webhook") from exc
        if exc.code == "invalid":
            raise ApiError(400, "invalid", str(exc)) from exc
        raise ApiError(503, "unavailable", f"webhooks did not answer: {exc.code}") from exc


def _guarded(handler):
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            caller = caller_for(request, None, secret_only=True)
            status, body = await handler(request, caller.workspace.id)
            return web.json_response(body, status=status)
        except ApiError as exc:
            return exc.response()

    return run


def _endpoint_id(request: web.Request) -> str:
    endpoint_id = request.match_info["webhook_id"]
    if len(endpoint_id) > MAX_ID:
        raise ApiError(404, "not_found", "no such webhook")
    return endpoint_id


async def _body(request: web.Request) -> WebhookCreate:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "too_large", f"the body is over {MAX_BODY} bytes")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise ApiError(413, "too_large", f"the body is over {MAX_BODY} bytes")
    try:
        return msgspec.json.decode(raw, type=WebhookCreate)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ApiError(400, "invalid", str(exc)) from exc


async def create(request: web.Request, ws: str) -> tuple[int, Any]:
    spec = await _body(request)
    return 201, await _ask(request, "endpoints.create", {"workspace_id": ws, **builtins(spec)})


async def list_all(request: web.Request, ws: str) -> tuple[int, Any]:
    return 200, await _ask(request, "endpoints.list", {"workspace_id": ws})


async def get_one(request: web.Request, ws: str) -> tuple[int, Any]:
    payload = {"workspace_id": ws, "id": _endpoint_id(request)}
    return 200, await _ask(request, "endpoints.get", payload)


async def delete_one(request: web.Request, ws: str) -> tuple[int, Any]:
    payload = {"workspace_id": ws, "id": _endpoint_id(request)}
    return 200, await _ask(request, "endpoints.delete", payload)


def setup(app: web.Application) -> None:
    app.router.add_post("/v1/webhooks", _guarded(create))
    app.router.add_get("/v1/webhooks", _guarded(list_all))
    app.router.add_get("/v1/webhooks/{webhook_id}", _guarded(get_one))
    app.router.add_delete("/v1/webhooks/{webhook_id}", _guarded(delete_one))

"""Request/reply on `P.webhooks.<verb>` (docs/bus-contract.md, webhooks): endpoints and
their delivery log, for the gateway's `/v1/webhooks` (secret key) and the dashboard's
settings (admins; both callers check who asks, and name the workspace)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from services.webhooks import signing
from services.webhooks.context import WebhooksContext
from services.webhooks.targets import RefusedTarget, check_url
from shared import clock
from shared.errors import PermanentError
from shared.schema import builtins, convert
from shared.schema.webhooks import MAX_ENDPOINTS, TOPICS, Webhook, WebhookCreate

Handler = Callable[[WebhooksContext, dict[str, Any]], Awaitable[Any]]
ROTATION_GRACE = timedelta(hours=24)  # the previous secret still signs this long
LOG_LIMIT = 50


def _invalid(message: str) -> PermanentError:
    return PermanentError(message, code="invalid")


def _ws(payload: dict[str, Any]) -> str:
    ws = payload.get("workspace_id")
    if not isinstance(ws, str) or not ws:
        raise _invalid("workspace_id is required")
    return ws


async def _endpoint(ctx: WebhooksContext, payload: dict[str, Any]) -> dict[str, Any]:
    endpoint_id = payload.get("id")
    found = None
    if isinstance(endpoint_id, str) and len(endpoint_id) <= 64:
        found = await ctx.store.endpoint(_ws(payload), endpoint_id)
    if found is None:
        raise PermanentError("no such webhook", code="not_found")
    return found


def out(endpoint: dict[str, Any], with_secret: bool = False) -> dict[str, Any]:
    shaped = Webhook(
        id=endpoint["_id"],
        url=endpoint["url"],
        topics=list(endpoint["topics"]),
        enabled=bool(endpoint["enabled"]),
        description=endpoint.get("description") or "",
        created_at=clock.iso(endpoint.get("created_at")),
        failing_since=clock.iso(endpoint.get("failing_since")),
        disabled_reason=endpoint.get("disabled_reason"),
        disabled_at=clock.iso(endpoint.get("disabled_at")),
        secret=endpoint["secrets"][0]["key"] if with_secret else None,
    )
    result: dict[str, Any] = builtins(shaped)
    return result


def _checked_url(url: str) -> str:
    try:
        return check_url(url)
    except RefusedTarget as exc:
        raise _invalid(str(exc)) from exc


async def create(ctx: WebhooksContext, payload: dict[str, Any]) -> dict[str, Any]:
    ws = _ws(payload)
    fields = {k: v for k, v in payload.items() if k != "workspace_id"}
    spec = convert(fields, WebhookCreate, {}, default="invalid")
    url = _checked_url(spec.url)
    if await ctx.store.count_endpoints(ws) >= MAX_ENDPOINTS:
        raise _invalid(f"a workspace has at most {MAX_ENDPOINTS} webhooks")
    now = clock.now()
    doc = {
        "_id": "we_" + secrets.token_hex(12),
        "workspace_id": ws,
        "url": url,
        "topics": sorted(set(spec.topics)),
        "enabled": spec.enabled,
        "description": spec.description.strip(),
        "secrets": [{"key": signing.new_secret(), "created_at": now, "expires_at": None}],
        "created_at": now,
        "failing_since": None,
        "disabled_reason": None,
        "disabled_at": None,
    }
    await ctx.store.add_endpoint(doc)
    return out(doc, with_secret=True)


async def list_(ctx: WebhooksContext, payload: dict[str, Any]) -> dict[str, Any]:
    return {"webhooks": [out(e) for e in await ctx.store.endpoints_of(_ws(payload))]}


async def get(ctx: WebhooksContext, payload: dict[str, Any]) -> dict[str, Any]:
    """One endpoint; with `reveal`, its current signing secret (the dashboard's page)."""
    return out(await _endpoint(ctx, payload), with_secret=payload.get("reveal") is True)


async def update(ctx: WebhooksContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Topics, URL or enabled; enabling clears the disabled mark and the failing window."""
    endpoint = await _endpoint(ctx, payload)
    fields: dict[str, Any] = {}
    if "url" in payload:
        fields["url"] = _checked_url(payload["url"])
    if "topics" in payload:
        topics = payload["topics"]
        if not isinstance(topics, list) or not topics or any(t not in TOPICS for t in topics):
            raise _invalid(f"topics must be a non-empty list of {', '.join(TOPICS)}")
        fields["topics"] = sorted(set(topics))
    if "enabled" in payload:
        if not isinstance(payload["enabled"], bool):
            raise _invalid("enabled must be true or false")
        fields["enabled"] = payload["enabled"]
        if payload["enabled"]:
            fields.update(disabled_reason=None, disabled_at=None, failing_since=None)
    await ctx.store.update_endpoint(endpoint["workspace_id"], endpoint["_id"], fields)
    if fields.get("enabled") is False:
        await ctx.store.abandon_pending(endpoint["_id"], "the endpoint was turned off")
    return out({**endpoint, **fields})


async def rotate(ctx: WebhooksContext, payload: dict[str, Any]) -> dict[str, Any]:
    """A new signing secret; the current one stays valid for ROTATION_GRACE (two at once)."""
    endpoint = await _endpoint(ctx, payload)
    now = clock.now()
    previous = {**endpoint["secrets"][0], "expires_at": now + ROTATION_GRACE}
    kept = [{"key": signing.new_secret(), "created_at": now, "expires_at": None}, previous]
    await ctx.store.update_endpoint(endpoint["workspace_id"], endpoint["_id"], {"secrets": kept})
    return out({**endpoint, "secrets": kept}, with_secret=True)


async def delete(ctx: WebhooksContext, payload: dict[str, Any]) -> dict[str, Any]:
    endpoint = await _endpoint(ctx, payload)
    deleted = await ctx.store.delete_endpoint(endpoint["workspace_id"], endpoint["_id"])
    await ctx.store.forget_endpoint(endpoint["_id"])
    return {"deleted": deleted}


def _attempt_out(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "delivery_id": doc["delivery_id"],
        "event_id": doc["event_id"],
        "type": doc["type"],
        "attempt": doc["attempt"],
        "outcome": doc["outcome"],
        "status": doc.get("status"),
        "error": doc.get("error"),
        "latency_ms": doc.get("latency_ms"),
        "excerpt": doc.get("excerpt"),
        "at": clock.iso(doc["at"]),
    }


async def log(ctx: WebhooksContext, payload: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's latest attempts and deliveries, newest first."""
    endpoint = await _endpoint(ctx, payload)
    attempts = await ctx.store.recent_attempts(endpoint["_id"], LOG_LIMIT)
    deliveries = await ctx.store.recent_deliveries(endpoint["_id"], LOG_LIMIT)
    return {
        "attempts": [_attempt_out(a) for a in attempts],
        "deliveries": [
            {
                "id": d["_id"],
                "event_id": d["event_id"],
                "type": d["type"],
                "status": d["status"],
                "attempts": d.get("attempts", 0),
                "next_at": clock.iso(d.get("next_at")),
            }
            for d in deliveries
        ],
    }


async def redeliver(ctx: WebhooksContext, payload: dict[str, Any]) -> dict[str, Any]:
    endpoint = await _endpoint(ctx, payload)
    delivery_id = payload.get("delivery_id")
    if not isinstance(delivery_id, str) or not delivery_id.endswith(":" + endpoint["_id"]):
        raise PermanentError("no such delivery", code="not_found")
    if not await ctx.store.redeliver(endpoint["workspace_id"], delivery_id):
        raise PermanentError("no such delivery", code="not_found")
    ctx.wake.set()
    return {"redelivering": delivery_id}


HANDLERS: dict[str, Handler] = {
    "endpoints.create": create,
    "endpoints.list": list_,
    "endpoints.get": get,
    "endpoints.update": update,
    "endpoints.rotate": rotate,
    "endpoints.delete": delete,
    "endpoints.log": log,
    "endpoints.redeliver": redeliver,
}


async def serve_all(ctx: WebhooksContext) -> None:
    await ctx.bus.serve_verbs("webhooks", HANDLERS, ctx)


__all__ = ["HANDLERS", "out", "serve_all"]

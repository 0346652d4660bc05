"""The delivery worker: due deliveries from the outbox, signed and POSTed, then settled.

Retried on a time-out, a connection error, 408, 429 and 5xx, after `base * 2^(n-1)`
seconds (jittered between half and all of it, at most a twelfth of the window), until
the retry window since the first attempt is spent; any other answer is final (3xx
included: redirects are not followed). An endpoint whose failures started a whole window
ago is disabled, its waiting deliveries dropped, and the admins emailed (notify.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from services.webhooks import notify, signing
from services.webhooks.context import WebhooksContext
from services.webhooks.targets import RefusedTarget, check_literal, check_url
from services.webhooks.topics import Event
from shared import clock, tasks
from shared.metrics import WEBHOOK_ATTEMPTS, WEBHOOK_SECONDS, WEBHOOKS_DISABLED

log = logging.getLogger("parley.webhooks")

EXCERPT = 500  # characters of the answer kept in the log
READ_AT_MOST = 4096  # bytes of the answer read
CLAIM_BATCH = 100
RETRYABLE = {408, 429}


# --- the outbox, from a fact ------------------------------------------------------------
async def enqueue(ctx: WebhooksContext, event: Event) -> int:
    """One delivery per enabled endpoint subscribed to the event's topic (idempotent)."""
    endpoints = await ctx.store.subscribed(event.workspace_id, event.type)
    if not endpoints:
        return 0
    now = clock.now()
    body = json.dumps(event.envelope(), separators=(",", ":"), default=str)
    docs = [
        {
            "_id": f"{event.id}:{ep['_id']}",
            "workspace_id": event.workspace_id,
            "endpoint_id": ep["_id"],
            "event_id": event.id,
            "type": event.type,
            "body": body,
            "status": "pending",
            "attempts": 0,
            "next_at": now,
            "first_at": now,
            "lease_until": None,
            "tried_from": None,
            "last": None,
        }
        for ep in endpoints
    ]
    added = await ctx.store.enqueue(docs)
    ctx.wake.set()
    return added


# --- when to retry ----------------------------------------------------------------------
def retry_delay(ctx: WebhooksContext, attempts: int, retry_after: float | None = None) -> float:
    """Seconds before attempt `attempts + 1` (`attempts` made so far, at least 1)."""
    hooks = ctx.hooks
    cap = max(hooks.base_delay_s, hooks.retry_window_s / 12)
    full = min(cap, hooks.base_delay_s * 2 ** (attempts - 1))
    delay = random.uniform(full / 2, full)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def _retry_after(headers: Any) -> float | None:
    raw = headers.get("Retry-After") if headers is not None else None
    if raw and raw.strip().isdigit():
        return float(raw.strip())
    return None


# --- one attempt ------------------------------------------------------------------------
def _valid_secrets(endpoint: dict[str, Any], now: datetime) -> list[str]:
    return [
        s["key"]
        for s in endpoint.get("secrets", [])
        if s.get("expires_at") is None or s["expires_at"] > now
    ]


async def _post(
    ctx: WebhooksContext, endpoint: dict[str, Any], delivery: dict[str, Any]
) -> dict[str, Any]:
    """The attempt's outcome: `status` (an HTTP code) or `error`, latency, excerpt."""
    url = check_url(endpoint["url"])
    check_literal(urlsplit(url).hostname or "", ctx.hooks.allow_private)
    body = delivery["body"].encode()
    now = clock.now()
    msg_id = delivery["event_id"]
    headers = signing.headers(_valid_secrets(endpoint, now), msg_id, int(now.timestamp()), body)
    headers["content-type"] = "application/json"
    headers["user-agent"] = "Parley-Webhooks/1"
    started = time.perf_counter()
    result: dict[str, Any] = {"at": now}
    try:
        async with ctx.http.post(
            url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=ctx.hooks.timeout_s),
        ) as resp:
            raw = await resp.content.read(READ_AT_MOST)
            result["status"] = resp.status
            result["excerpt"] = raw.decode("utf-8", "replace")[:EXCERPT]
            result["retry_after"] = _retry_after(resp.headers)
    except TimeoutError:
        result["error"] = f"timed out after {ctx.hooks.timeout_s:g}s"
    except RefusedTarget:
        raise
    except (aiohttp.ClientError, OSError) as exc:
        if isinstance(exc.__cause__, RefusedTarget):
            raise exc.__cause__ from None
        result["error"] = f"{type(exc).__name__}: {exc}"[:EXCERPT]
    result["latency_ms"] = round((time.perf_counter() - started) * 1000)
    WEBHOOK_SECONDS.observe(result["latency_ms"] / 1000)
    return result


def _outcome(result: dict[str, Any]) -> str:
    status = result.get("status")
    if status is None:
        return "retry" if not result.get("refused") else "failed"
    if 200 <= status < 300:
        return "delivered"
    if status in RETRYABLE or status >= 500:
        return "retry"
    return "failed"


def _next_try(
    ctx: WebhooksContext, delivery: dict[str, Any], result: dict[str, Any], attempts: int
) -> tuple[str, datetime | None, datetime]:
    """The outcome, when to try again, and the time the endpoint is judged at (past the
    window's end when this was the last try)."""
    outcome = _outcome(result)
    if outcome != "retry":
        return outcome, None, result["at"]
    delay = retry_delay(ctx, attempts, result.get("retry_after"))
    ends = delivery["first_at"] + timedelta(seconds=ctx.hooks.retry_window_s)
    next_at = result["at"] + timedelta(seconds=delay)
    if next_at <= ends:
        return outcome, next_at, result["at"]
    reason = result.get("error") or f"HTTP {result.get('status')}"
    result["error"] = f"{reason} (retry window spent)"
    # this delivery failed from its first try to its last: judge the endpoint a whole window
    # after that first try, so a first try that lagged the enqueue still disables it
    tried_from = delivery.get("tried_from") or result["at"]
    return "failed", None, max(next_at, tried_from + timedelta(seconds=ctx.hooks.retry_window_s))


async def attempt(ctx: WebhooksContext, delivery: dict[str, Any]) -> str:
    """Send one leased delivery and settle it; the outcome."""
    endpoint = await ctx.store.endpoint_by_id(delivery["endpoint_id"])
    if endpoint is None or not endpoint.get("enabled"):
        last = {"at": clock.now(), "error": "the endpoint is disabled or deleted"}
        await ctx.store.settle(delivery["_id"], "failed", None, last)
        return "failed"
    try:
        result = await _post(ctx, endpoint, delivery)
    except RefusedTarget as exc:
        result = {"at": clock.now(), "error": f"refused: {exc}", "refused": True, "latency_ms": 0}
    attempts = int(delivery.get("attempts", 0)) + 1
    outcome, next_at, judged_at = _next_try(ctx, delivery, result, attempts)
    status = {"delivered": "delivered", "retry": "pending", "failed": "failed"}[outcome]
    last = {k: result.get(k) for k in ("at", "status", "error", "latency_ms", "excerpt")}
    # the log first: a delivery seen settled has its attempt in the log
    await ctx.store.log_attempt(
        {
            **last,
            "delivery_id": delivery["_id"],
            "endpoint_id": endpoint["_id"],
            "workspace_id": delivery["workspace_id"],
            "event_id": delivery["event_id"],
            "type": delivery["type"],
            "attempt": attempts,
            "outcome": outcome,
        }
    )
    tried_from = delivery.get("tried_from") or result["at"]
    await ctx.store.settle(delivery["_id"], status, next_at, last, tried_from)
    WEBHOOK_ATTEMPTS.labels(outcome).inc()
    await _follow_health(ctx, endpoint, outcome, result["at"], judged_at)
    return outcome


async def _follow_health(
    ctx: WebhooksContext, endpoint: dict[str, Any], outcome: str, at: datetime, judged: datetime
) -> None:
    """A success ends the failing window; a failure starts it, and one that began a whole
    window before `judged` disables the endpoint."""
    if outcome == "delivered":
        await ctx.store.succeeded(endpoint["_id"])
        return
    await ctx.store.failed_once(endpoint["_id"], at)
    window = timedelta(seconds=ctx.hooks.retry_window_s)
    reason = f"every delivery failed for {notify.window_text(ctx.hooks.retry_window_s)}"
    if await ctx.store.disable_failing(endpoint["_id"], judged - window, reason):
        WEBHOOKS_DISABLED.inc()
        log.warning("webhook endpoint disabled", extra={"endpoint": endpoint["_id"]})
        await ctx.store.abandon_pending(endpoint["_id"], "the endpoint was disabled")
        await notify.endpoint_disabled(ctx, endpoint, reason)


# --- the loop ---------------------------------------------------------------------------
async def start_due(ctx: WebhooksContext, running: tasks.BackgroundTasks) -> int:
    """Lease what is due and start it, at most `in_flight` per endpoint; how many started."""
    lease = ctx.hooks.timeout_s + 30
    started = 0
    busy = [ep for ep, n in ctx.running.items() if n >= ctx.hooks.in_flight]
    for delivery in await ctx.store.claim_due(lease, CLAIM_BATCH, busy):
        ep = delivery["endpoint_id"]
        if ctx.running[ep] >= ctx.hooks.in_flight:
            await ctx.store.release(delivery["_id"])
            continue
        ctx.running[ep] += 1
        started += 1
        running.start(_attempt_then_free(ctx, delivery))
    return started


async def _attempt_then_free(ctx: WebhooksContext, delivery: dict[str, Any]) -> None:
    try:
        await attempt(ctx, delivery)
    finally:
        ep = delivery["endpoint_id"]
        ctx.running[ep] -= 1
        if ctx.running[ep] <= 0:
            ctx.running.pop(ep, None)
        ctx.wake.set()  # room again on this endpoint


async def worker(ctx: WebhooksContext, tick: float) -> None:
    running = tasks.BackgroundTasks(log, "delivering a webhook")
    try:
        while True:
            ctx.wake.clear()
            try:
                await start_due(ctx, running)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook worker pass failed")
            try:
                await asyncio.wait_for(ctx.wake.wait(), tick)
            except TimeoutError:
                pass
    finally:
        await running.settle(ctx.hooks.timeout_s)
        await running.close()

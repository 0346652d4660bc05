"""Segment-compatible ingest API: `/v1/batch` and the per-type endpoints, for any Segment client.

Also the short routes analytics.js sends (`/v1/t|i|p|a|g|s`, its batching
dispatcher's `/v1/b`) and RudderStack's beacon `/beacon/v1/batch?writeKey=`; the
bodies are JSON whatever their Content-Type (analytics.js sends `text/plain`).

200 means every accepted message is durably in JetStream. A batch some of whose
messages are refused still answers 200 (as Segment's API does, so no client retries
or drops the whole batch), with `accepted` and `rejected` in the body; a batch all
of whose messages are refused is a 400. Errors are JSON `{"code", "message"}`: 400
(bad JSON, a message without ids, over 32 KB a message or 500 KB a batch, a value the
database cannot store), 401 (unknown
key), 403 (origin not allowed, identity verification required), 429 with
`Retry-After` over the workspace's rate, 503 with `Retry-After` only when the
bus failed (NATS unreachable, JetStream did not ack: the client retries, message
ids dedupe), 500 with a `request_id` (also in the log line) for anything else.
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from typing import Any

import msgspec
from aiohttp import web

from services.gateway import debug_feed
from services.gateway.api_auth import ApiError, Caller, browser_context, caller_for
from services.gateway.events_out import BUS_FAILURES, publish_events
from services.gateway.identity_tokens import JWKS
from services.gateway.suppressions_api import SUPPRESSIONS
from shared.metrics import INGEST_REFUSED, RATE_LIMITED
from shared.ratelimit import RateLimiter
from shared.schema import builtins
from shared.schema.segment import MAX_BATCH_MESSAGES, TYPES, Refused
from shared.storable import MAX_DEPTH
from shared.web import BUS, REQUEST_ID, WORKSPACES, json_error

log = logging.getLogger("parley.gateway.ingest")

MAX_BATCH_BYTES = 500 * 1024
LIMITERS = web.AppKey("ingest_limiters", dict)
# what analytics.js (Authorization, X-Retry-Count) and RudderStack's SDK (AnonymousId,
# SentAt, Rsa-*) send besides the body; answered in every preflight
CORS_HEADERS = ", ".join(
    (
        "Authorization",
        "Content-Type",
        "Content-Encoding",
        "Accept",
        "X-Retry-Count",
        "AnonymousId",
        "SentAt",
        "Rsa-Retry-Attempt",
        "Rsa-Since-Last-Attempt",
        "Rsa-Since-First-Attempt",
        "Rsa-Retry-Reason",
        "Rsa-Recovered",
    )
)
# a page's script may read these on an answer (analytics.js honours Retry-After on a 429)
EXPOSED_HEADERS = "Retry-After, X-RateLimit-Reset, X-Request-Id"
# analytics.js's short routes: the first letter of the type
SHORT_ROUTES = {kind[0]: kind for kind in TYPES}
RETRY = {"Retry-After": "5"}


def _inflater(request: web.Request) -> Any:
    """A zlib decoder for the body's Content-Encoding (None for identity); 400 for others.

    The gateway inflates bodies itself (aiohttp's `auto_decompress` is off, app.py):
    aiohttp logs a corrupt or unknown encoding as a server error with a traceback
    and answers it in plain text; here it is a JSON 400 like every other refusal.
    """
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ApiError(
            400, "bad_body", f"Content-Encoding {encoding[:40]!r} is not supported: use gzip"
        )
    return zlib.decompressobj(zlib.MAX_WBITS | 32)  # | 32: a gzip or a zlib header


async def read_json(request: web.Request) -> Any:
    """The body, inflated if gzip/deflate, at most 500 KB once inflated, as JSON."""
    inflater = _inflater(request)
    chunks, size = [], 0
    try:
        async for chunk in request.content.iter_chunked(64 * 1024):
            if inflater is not None:  # never more than the limit: a gzip bomb stops here
                chunk = inflater.decompress(chunk, MAX_BATCH_BYTES + 1 - size)
            size += len(chunk)
            if size > MAX_BATCH_BYTES:
                raise ApiError(400, "too_large", "the body is over 500 KB")
            chunks.append(chunk)
        if inflater is not None and not inflater.eof:
            raise ApiError(400, "bad_body", "the compressed body is cut short")
    except zlib.error as exc:
        raise ApiError(400, "bad_body", "the compressed body is corrupt") from exc
    except web.RequestPayloadError as exc:  # e.g. a broken chunked encoding
        raise ApiError(400, "bad_body", "the body could not be read") from exc
    return parse_json(b"".join(chunks) or b"null")


def parse_json(body: bytes) -> Any:
    """The body as builtins, read once by msgspec (3x `json.loads`' speed).

    msgspec refuses the whole body for a NaN or Infinity token or a lone surrogate escape;
    those bodies are read again by `json`, which takes them, so that `check_storable`
    refuses only the messages holding them and the rest of the batch is still stored.
    """
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        pass  # not strict JSON: `json` tells a bad body from a lenient one below
    except RecursionError as exc:  # deeper than the parser goes: far over MAX_DEPTH anyway
        raise _too_deep() from exc
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", "the body is not valid JSON") from exc
    except RecursionError as exc:
        raise _too_deep() from exc


def _too_deep() -> ApiError:
    return ApiError(400, "too_deep", f"the body is nested deeper than {MAX_DEPTH} levels")


def _limit(request: web.Request, caller: Caller, cost: int) -> None:
    ws = caller.workspace
    rate = max(1, int(ws.ingest_rate_per_second or 1))
    limiters: dict[str, tuple[int, RateLimiter]] = request.app[LIMITERS]
    current = limiters.get(ws.id)
    if current is None or current[0] != rate:
        current = limiters[ws.id] = (rate, RateLimiter(rate, burst=rate * 2))
    wait = current[1].retry_after(ws.id, min(cost, rate * 2))
    if wait:
        RATE_LIMITED.labels("gateway", "ingest").inc()
        seconds = str(max(1, math.ceil(wait)))
        raise ApiError(
            429,
            "rate_limited",
            f"over {rate} events a second for this workspace",
            **{"Retry-After": seconds, "X-RateLimit-Reset": seconds},
        )


def _cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """CORS on an answer: the call itself was checked (a write key's origin allow-list)."""
    origin = request.headers.get("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        response.headers["Vary"] = "Origin"
    return response


cors = _cors


async def _report(
    request: web.Request, caller: Caller | None, exc: ApiError, count: int = 1
) -> None:
    """A refused call, in the workspace's event debugger when its workspace is known."""
    workspace_id = caller.workspace.id if caller is not None else exc.workspace_id
    if workspace_id is not None:
        await debug_feed.report_call(
            request.app[BUS], workspace_id, request.path, exc.code, exc.message, count
        )


async def _ingest(
    request: web.Request, kind: str | None, *, key_in_query: bool = False
) -> web.StreamResponse:
    caller: Caller | None = None
    messages: list[Any] = []
    try:
        body, caller = await _read_call(request, key_in_query)
        messages, batch_context = _messages_of(body, kind)
        _limit(request, caller, max(1, len(messages)))
        rejected = await publish_events(
            request.app[BUS],
            caller.workspace,
            messages,
            source="api",
            trusted=caller.trusted,
            context_extra=browser_context(request) if caller.browser else None,
            batch_context=batch_context,
            sent_at=body.get("sentAt"),
            jwks=request.app[JWKS],
            suppressions=request.app[SUPPRESSIONS],
        )
    except ApiError as exc:
        INGEST_REFUSED.labels(exc.code).inc()
        await _report(request, caller, exc, max(1, len(messages)))
        return _cors(request, exc.response())
    except BUS_FAILURES as exc:
        log.warning("ingest publish failed, the client will retry: %r", exc)
        INGEST_REFUSED.labels("unavailable").inc()
        return _cors(request, json_error(503, "unavailable", "events not stored, retry", **RETRY))
    except Exception:
        log.exception("ingest failed", extra={"request_id": request.get(REQUEST_ID)})
        INGEST_REFUSED.labels("internal").inc()
        return _cors(request, json_error(500, "internal", "internal error"))
    await debug_feed.report_messages(
        request.app[BUS], caller.workspace.id, request.path, messages, kind, rejected
    )
    if rejected:
        for refused in rejected:
            INGEST_REFUSED.labels(refused.code).inc()
        return _cors(request, _refusals(kind, len(messages), rejected))
    return _cors(request, web.json_response({"success": True}))


async def _read_call(request: web.Request, key_in_query: bool) -> tuple[dict[str, Any], Caller]:
    body = await read_json(request)
    if key_in_query and isinstance(body, dict) and "writeKey" not in body:
        # a beacon cannot send headers: RudderStack puts its write key in the URL
        body["writeKey"] = request.query.get("writeKey")
    caller = caller_for(request, body)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return body, caller


def _messages_of(body: dict[str, Any], kind: str | None) -> tuple[list[Any], Any]:
    """The messages of a batch (and its shared context), or the one of a per-type call."""
    if kind is not None:
        return [{**body, "type": kind}], None
    messages = body.get("batch")
    if not isinstance(messages, list):
        raise ApiError(400, "bad_batch", "batch must be a list of messages")
    if len(messages) > MAX_BATCH_MESSAGES:
        raise ApiError(400, "too_large", f"at most {MAX_BATCH_MESSAGES} messages a batch")
    return messages, body.get("context") if isinstance(body.get("context"), dict) else None


# refusals of a caller's proof of identity: 403 (a single call), not a malformed body
FORBIDDEN = ("verification_required", "invalid_identity_token")


def _refusals(kind: str | None, count: int, rejected: list[Refused]) -> web.Response:
    """A single call refused (400, 403 for verification), or a batch's refused messages:
    200 while any message was stored (a client must neither retry nor drop the batch),
    400 when none was."""
    first = rejected[0]
    accepted = count - len(rejected)
    if kind:
        status = 403 if first.code in FORBIDDEN else 400
    else:
        status = 200 if accepted else 400
    payload: dict[str, Any] = {
        "code": first.code if kind else "invalid_messages",
        "message": first.message
        if kind
        else f"{len(rejected)} message(s) refused: #{first.index} {first.message}",
        "accepted": accepted,
        "rejected": [builtins(r) for r in rejected[:100]],
    }
    if status == 200:
        payload = {"success": True, **payload}
    return web.json_response(payload, status=status)


async def batch(request: web.Request) -> web.StreamResponse:
    return await _ingest(request, None)


async def beacon(request: web.Request) -> web.StreamResponse:
    """RudderStack's `sendBeacon` batches: a text/plain blob, the write key in the query."""
    return await _ingest(request, None, key_in_query=True)


def single(kind: str):
    async def handler(request: web.Request) -> web.StreamResponse:
        return await _ingest(request, kind)

    return handler


def origin_admitted(request: web.Request) -> bool:
    """A preflight names no key: its origin must be one some workspace's write key admits
    (the call itself is checked against its own workspace, api_auth.caller_for)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return any(ws.origin_allowed(origin) for ws in request.app[WORKSPACES].all())


async def preflight(request: web.Request) -> web.Response:
    if not origin_admitted(request):
        return json_error(403, "origin_not_allowed", "this origin may not call the API")
    response = web.Response(status=204)
    _cors(request, response)
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def _route(app: web.Application, path: str, handler: Any) -> None:
    app.router.add_post(path, handler)
    app.router.add_route("OPTIONS", path, preflight)


def setup(app: web.Application) -> None:
    app[LIMITERS] = {}
    for path in ("/v1/batch", "/v1/import", "/v1/b"):
        _route(app, path, batch)
    _route(app, "/beacon/v1/batch", beacon)
    for kind in TYPES:
        _route(app, f"/v1/{kind}", single(kind))
    for letter, kind in SHORT_ROUTES.items():
        _route(app, f"/v1/{letter}", single(kind))

"""The middlewares every service runs: request id and access log, metrics, JSON errors.

Every request gets a request id (a trusted proxy's `X-Request-Id`, or a new one),
echoed in the `X-Request-Id` response header and in every JSON error body, and one
access-log line.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import time
import uuid

from aiohttp import web

from shared import metrics
from shared.errors import BusError
from shared.logs import access_log
from shared.web.keys import REQUEST_ID, SERVICE_NAME

log = logging.getLogger("parley.web")

API_PREFIX = "/v1/"
REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "parley_request_id", default=None
)


def json_error(status: int, code: str, message: str, **headers: str) -> web.Response:
    body = {"code": code, "message": message}
    request_id = _request_id.get()
    if request_id:
        body["request_id"] = request_id
    return web.json_response(body, status=status, headers=headers)


def _request_id_of(request: web.Request) -> str:
    """A trusted proxy's id (so one id follows a request end to end), else a new one."""
    from shared.proxies import from_trusted_proxy

    given = request.headers.get(REQUEST_ID_HEADER, "")
    if given and _REQUEST_ID_SHAPE.fullmatch(given) and from_trusted_proxy(request):
        return given
    return uuid.uuid4().hex


@web.middleware
async def request_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """The request id, then, when the request is done, one access-log line and its metrics."""
    from shared.proxies import client_ip

    request_id = _request_id_of(request)
    request[REQUEST_ID] = request_id
    token = _request_id.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away (nginx's code for it)
        raise
    finally:
        took = time.perf_counter() - started
        access_log(
            method=request.method,
            path=request.path,  # never the query string: it may carry keys and tokens
            status=status,
            duration_ms=round(took * 1000, 1),
            client_ip=client_ip(request),
            request_id=request_id,
        )
        _request_id.reset(token)
        resource = request.match_info.route.resource
        route = resource.canonical if resource else "?"
        service = request.app[SERVICE_NAME]
        metrics.HTTP_REQUESTS.labels(service, route, request.method, str(status)).inc()
        metrics.HTTP_LATENCY.labels(service, route).observe(took)


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    request_id = request.get(REQUEST_ID)
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id


@web.middleware
async def error_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Unexpected failures answer JSON 5xx with a reason and never take the service down."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if (
            request.path.startswith(API_PREFIX)
            and exc.status >= 400
            and exc.content_type != "application/json"
        ):
            # API clients get the documented {"code", "message"} body for routing errors too
            # (unknown path, wrong method, body over the size limit).
            code = exc.reason.lower().replace(" ", "_")
            keep = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
            return json_error(
                exc.status, code, f"{exc.reason}: {request.method} {request.path}", **keep
            )
        raise
    except BusError as exc:
        log.warning("bus request failed: %s", exc)
        return json_error(503, "unavailable", f"a backing service did not answer: {exc.code}")
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return json_error(500, "internal", "internal error")

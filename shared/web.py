"""The aiohttp base every service builds on: health, readiness, metrics, JSON errors.

Every request gets a request id (a trusted proxy's `X-Request-Id`, or a new one),
echoed in the `X-Request-Id` response header and in every JSON error body, and one
access-log line. `/metrics` is served on its own port (`PARLEY_METRICS_PORT`, bound
to `PARLEY_METRICS_HOST`), never on the public one.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from shared import metrics, tasks
from shared.bus import Bus
from shared.errors import BusError
from shared.logs import access_log
from shared.settings import Settings
from shared.subjects import Subjects

log = logging.getLogger("parley.web")

API_PREFIX = "/v1/"
REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# a readiness check that has not answered by then reports "timeout"
READY_TIMEOUT = 1.0
# how often consuming services read their consumers' lag from JetStream
CONSUMER_STATS_EVERY = 5.0

ReadinessCheck = Callable[[], Awaitable[bool]]

SERVICE_NAME = web.AppKey("service_name", str)
SETTINGS = web.AppKey("settings", Settings)
BUS = web.AppKey("bus", Bus)
READINESS = web.AppKey("readiness", dict)
METRICS_PORT = web.AppKey("metrics_port", int)
WATCHED_CONSUMERS = web.AppKey("watched_consumers", list)
REQUEST_ID = web.RequestKey("request_id", str)

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
    """The request id, then one access-log line when the request is done."""
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
        access_log(
            method=request.method,
            path=request.path,  # never the query string: it may carry keys and tokens
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            client_ip=client_ip(request),
            request_id=request_id,
        )
        _request_id.reset(token)


async def _echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    request_id = request.get(REQUEST_ID)
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id


@web.middleware
async def metrics_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    route = (
        request.match_info.route.resource.canonical if request.match_info.route.resource else "?"
    )
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        service = request.app[SERVICE_NAME]
        metrics.HTTP_REQUESTS.labels(service, route, request.method, str(status)).inc()
        metrics.HTTP_LATENCY.labels(service, route).observe(time.perf_counter() - started)


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


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[SERVICE_NAME]})


async def _run_check(check: ReadinessCheck) -> bool | str:
    """True, or why not: "down" (the check said no), "timeout", or "error"."""
    try:
        return True if await asyncio.wait_for(check(), READY_TIMEOUT) else "down"
    except TimeoutError:
        return "timeout"
    except Exception:  # noqa: BLE001 - a failing check is just "not ready"
        return "error"


async def readyz(request: web.Request) -> web.Response:
    """Every check at once, each bounded by READY_TIMEOUT: a stalled database cannot stall this."""
    names = list(request.app[READINESS])
    results = await asyncio.gather(*(_run_check(request.app[READINESS][n]) for n in names))
    checks = dict(zip(names, results, strict=True))
    ready = all(result is True for result in results)
    return web.json_response(
        {"ok": ready, "status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics_view(request: web.Request) -> web.Response:
    return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")


def _metrics_ctx(service: str, settings: Settings):  # type: ignore[no-untyped-def]
    """Serve /metrics on the service's own metrics port for the app's lifetime."""

    async def ctx(app: web.Application):  # type: ignore[no-untyped-def]
        metrics_app = web.Application()
        metrics_app.router.add_get("/metrics", metrics_view)
        runner = web.AppRunner(metrics_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.metrics_host, settings.metrics_port_of(service))
        await site.start()
        app[METRICS_PORT] = runner.addresses[0][1]
        loop = asyncio.get_running_loop()
        metrics.ASYNCIO_TASKS.labels(service).set_function(lambda: len(asyncio.all_tasks(loop)))
        log.info("metrics served", extra={"host": settings.metrics_host, "port": app[METRICS_PORT]})
        yield
        await runner.cleanup()

    return ctx


def watch_consumers(app: web.Application, *consumers: tuple[str, str]) -> None:
    """Report these (stream, durable) consumers' lag, redeliveries and dead letters."""
    app[WATCHED_CONSUMERS].extend(consumers)


async def read_consumer_stats(bus: Bus, consumers: list[tuple[str, str]]) -> None:
    assert bus.js is not None
    for stream, durable in consumers:
        try:
            info = await bus.js.consumer_info(stream, durable, timeout=2)
        except Exception as exc:  # noqa: BLE001 - not created yet, or NATS restarting
            log.debug("no consumer info for %s: %r", durable, exc)
            continue
        labels = (bus.service, durable)
        metrics.CONSUMER_PENDING.labels(*labels).set(info.num_pending or 0)
        metrics.CONSUMER_ACK_PENDING.labels(*labels).set(info.num_ack_pending or 0)
        metrics.CONSUMER_REDELIVERED.labels(*labels).set(info.num_redelivered or 0)
        subject = bus.subjects.deadletter(durable)
        with contextlib.suppress(Exception):
            dead = await bus.js.stream_info(bus.subjects.deadletter_stream, subject)
            metrics.DEAD_LETTERS.labels(*labels).set(sum((dead.state.subjects or {}).values()))


async def _consumer_stats_loop(bus: Bus, consumers: list[tuple[str, str]]) -> None:
    while True:
        await read_consumer_stats(bus, consumers)
        await asyncio.sleep(CONSUMER_STATS_EVERY)


def create_base_app(
    service: str, settings: Settings, *, client_max_size: int = 1024**2, **handler_args: Any
) -> web.Application:
    """An app with /healthz, /readyz, a metrics port and a bus connected during its lifetime."""
    app = web.Application(
        middlewares=[request_middleware, metrics_middleware, error_middleware],
        client_max_size=client_max_size,
        handler_args=handler_args or None,  # e.g. the gateway's auto_decompress=False
    )
    app[SERVICE_NAME] = service
    app[SETTINGS] = settings
    app[READINESS] = {}
    app[WATCHED_CONSUMERS] = []
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.on_response_prepare.append(_echo_request_id)
    app.cleanup_ctx.append(_metrics_ctx(service, settings))

    async def bus_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        bus = Bus(
            settings.nats_url,
            Subjects(settings.subject_prefix),
            service,
            settings.stream_replicas,
        )
        await bus.connect()
        await bus.ensure_standard_streams()
        app[BUS] = bus

        async def nats_ready() -> bool:
            return bus.connected

        app[READINESS]["nats"] = nats_ready
        stats = None
        if app[WATCHED_CONSUMERS]:
            stats = asyncio.create_task(_consumer_stats_loop(bus, app[WATCHED_CONSUMERS]))
        yield
        if stats is not None:
            await tasks.stop(stats)
        await bus.close()

    app.cleanup_ctx.append(bus_ctx)

    async def stop_taking_work(app: web.Application) -> None:
        # before any cleanup context closes (the database first): a handler still
        # running then would fail on a closed client and log an error at every stop
        if BUS in app:
            await app[BUS].stop_taking_work()

    app.on_shutdown.insert(0, stop_taking_work)
    return app


def run(app: web.Application, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM; aiohttp then runs on_shutdown and cleanup (drain NATS)."""
    web.run_app(app, host=host, port=port, access_log=None, print=None, shutdown_timeout=10)


WORKSPACES = web.AppKey("workspaces", object)
MONGO = web.AppKey("mongo", object)
DB = web.AppKey("db", object)


def add_workspaces(app: web.Application, seed_default: bool = True) -> None:
    """Keep a live copy of the workspaces (after the bus); seed the default one from settings."""
    from shared.workspaces import WorkspaceRegistry

    async def workspaces_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        registry = WorkspaceRegistry(app[BUS])
        await registry.start()
        if seed_default:
            await registry.ensure_default(app[SETTINGS])
        app[WORKSPACES] = registry
        yield
        await registry.stop()

    app.cleanup_ctx.append(workspaces_ctx)


def add_mongo(app: web.Application, indexes: dict | None = None) -> None:
    """Connect this service's own database (after the bus) and create its indexes."""
    from shared import db

    async def mongo_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        settings = app[SETTINGS]
        client = db.connect(settings.mongo_url)
        database = client[settings.database_name(app[SERVICE_NAME])]
        if indexes:
            await db.ensure_indexes(database, indexes)
        app[MONGO] = client
        app[DB] = database

        async def mongo_ready() -> bool:
            return await db.ping(client)

        app[READINESS]["mongo"] = mongo_ready
        yield
        client.close()

    app.cleanup_ctx.append(mongo_ctx)


def service_main(
    service: str,
    create_app: Callable[[Settings], web.Application],
    port_of: Callable[[Settings], int],
) -> None:
    """The body of every `python -m services.<name>`."""
    from shared.logs import setup_logging

    settings = Settings.from_env()
    setup_logging(service, settings.log_level)
    run(create_app(settings), settings.host, port_of(settings))

"""The aiohttp base every service builds on: health, readiness, metrics, JSON errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from shared import metrics
from shared.bus import Bus
from shared.errors import BusError
from shared.settings import Settings
from shared.subjects import Subjects

log = logging.getLogger("parley.web")

API_PREFIX = "/v1/"

ReadinessCheck = Callable[[], Awaitable[bool]]

SERVICE_NAME = web.AppKey("service_name", str)
SETTINGS = web.AppKey("settings", Settings)
BUS = web.AppKey("bus", Bus)
READINESS = web.AppKey("readiness", dict)


def json_error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status, headers=headers)


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


async def readyz(request: web.Request) -> web.Response:
    checks = {}
    for name, check in request.app[READINESS].items():
        try:
            checks[name] = bool(await check())
        except Exception:  # noqa: BLE001 - a failing check is just "not ready"
            checks[name] = False
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics_view(request: web.Request) -> web.Response:
    return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")


def create_base_app(
    service: str, settings: Settings, *, client_max_size: int = 1024**2, **handler_args: Any
) -> web.Application:
    """An app with /healthz, /readyz, /metrics and a bus connected during its lifetime."""
    app = web.Application(
        middlewares=[metrics_middleware, error_middleware],
        client_max_size=client_max_size,
        handler_args=handler_args or None,  # e.g. the gateway's auto_decompress=False
    )
    app[SERVICE_NAME] = service
    app[SETTINGS] = settings
    app[READINESS] = {}
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)

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
        yield
        await bus.close()

    app.cleanup_ctx.append(bus_ctx)
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

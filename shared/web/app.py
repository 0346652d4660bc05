"""The app factory every service builds on: the base app, its bus, workspaces and database.

`/metrics` is served on its own port (`PARLEY_METRICS_PORT`, bound to
`PARLEY_METRICS_HOST`), never on the public one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from shared import tasks
from shared.bus import Bus
from shared.settings import Settings
from shared.subjects import Subjects
from shared.web.consumers import consumer_stats_loop
from shared.web.health import healthz, metrics_ctx, readyz
from shared.web.keys import (
    BUS,
    DB,
    DIALECT,
    MONGO,
    READINESS,
    SERVICE_NAME,
    SETTINGS,
    WATCHED_CONSUMERS,
    WORKSPACES,
)
from shared.web.middlewares import (
    echo_request_id,
    error_middleware,
    request_middleware,
)

if TYPE_CHECKING:
    from shared.dialect import Dialect


def create_base_app(
    service: str, settings: Settings, *, client_max_size: int = 1024**2, **handler_args: Any
) -> web.Application:
    """An app with /healthz, /readyz, a metrics port and a bus connected during its lifetime."""
    app = web.Application(
        middlewares=[request_middleware, error_middleware],
        client_max_size=client_max_size,
        handler_args=handler_args or None,  # e.g. the gateway's auto_decompress=False
    )
    app[SERVICE_NAME] = service
    app[SETTINGS] = settings
    app[READINESS] = {}
    app[WATCHED_CONSUMERS] = []
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.on_response_prepare.append(echo_request_id)
    app.cleanup_ctx.append(metrics_ctx(service, settings))

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
            stats = asyncio.create_task(consumer_stats_loop(bus, app[WATCHED_CONSUMERS]))
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


def add_mongo(
    app: web.Application,
    indexes: Callable[[Dialect], dict[str, Any]] | dict[str, Any] | None = None,
) -> None:
    """Connect this service's own database (after the bus), learn the server's dialect
    (shared/dialect.py) and create its indexes (a function of the dialect, or fixed)."""
    from shared import db
    from shared.dialect import detect

    async def mongo_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        settings = app[SETTINGS]
        client = db.connect(settings.mongo_url)
        database = client[settings.database_name(app[SERVICE_NAME])]
        dialect = await detect(client, settings.mongo_dialect)
        spec = indexes(dialect) if callable(indexes) else indexes
        if spec:
            await db.ensure_indexes(database, spec)
        app[MONGO] = client
        app[DB] = database
        app[DIALECT] = dialect

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

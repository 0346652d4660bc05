"""/healthz, /readyz, and /metrics on the service's own metrics port."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from shared import metrics
from shared.settings import Settings
from shared.web.keys import METRICS_PORT, READINESS, SERVICE_NAME, ReadinessCheck

log = logging.getLogger("parley.web")

# a readiness check that has not answered by then reports "timeout"
READY_TIMEOUT = 1.0


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
    registered = request.app[READINESS]
    names = list(registered)
    results = await asyncio.gather(*(_run_check(registered[n]) for n in names))
    checks = dict(zip(names, results, strict=True))
    ready = all(result is True for result in results)
    return web.json_response(
        {"ok": ready, "status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics_view(request: web.Request) -> web.Response:
    return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")


def metrics_ctx(service: str, settings: Settings):  # type: ignore[no-untyped-def]
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

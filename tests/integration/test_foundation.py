"""Every service answers health, readiness and metrics; services ride out a NATS restart."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
from pathlib import Path

import aiohttp
import pytest

from shared.bus import Bus
from shared.embedded import free_port, start_mongo, start_nats
from shared.settings import Settings
from shared.subjects import Subjects
from shared.web import METRICS_PORT
from tests.support import eventually

SERVICES = ["gateway", "identity", "chat", "dashboard"]


@pytest.mark.parametrize("name", SERVICES)
async def test_service_reports_health_readiness_and_metrics(
    name: str,
    start_service,
    aiohttp_client,
) -> None:
    http = await aiohttp_client(await start_service(name))

    resp = await http.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["service"] == name

    resp = await http.get("/readyz")
    body = await resp.json()
    assert resp.status == 200, body
    assert body["ok"] is True
    assert body["checks"]["nats"] is True
    if name != "gateway":  # the gateway is stateless: no database of its own
        assert body["checks"]["mongo"] is True

    # metrics are never on the service's own (for the gateway and dashboard: public) port
    assert (await http.get("/metrics")).status == 404
    port = http.server.app[METRICS_PORT]
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        text = await resp.text()
    assert resp.status == 200
    assert 'parley_http_requests_total{method="GET",route="/healthz"' in text
    assert "parley_events_consumed_total" in text
    # the process collectors: memory, CPU, file descriptors, GC, Python version
    for family in ("process_resident_memory_bytes", "process_open_fds", "python_gc_objects"):
        assert family in text
    assert "python_info{" in text


async def test_readiness_answers_within_its_bound_while_the_database_stalls(
    settings: Settings, start_service, aiohttp_client, tmp_path: Path
) -> None:
    mongo = start_mongo(tmp_path / "own-mongo")
    server = await start_service("identity", dataclasses.replace(settings, mongo_url=mongo.url))
    http = await aiohttp_client(server)

    async def ready() -> bool:
        return (await http.get("/readyz")).status == 200

    try:
        await eventually(ready, timeout=30)  # a loaded machine may need a moment at first
        os.kill(mongo.process.pid, signal.SIGSTOP)  # up, holding its sockets, answering nothing
        try:
            resp = await asyncio.wait_for(http.get("/readyz"), 10)
            body = await resp.json()
            assert resp.status == 503
            assert body["ok"] is False
            assert body["checks"]["nats"] is True and body["checks"]["mongo"] == "timeout"
        finally:
            os.kill(mongo.process.pid, signal.SIGCONT)
        await eventually(ready, timeout=30)
    finally:
        mongo.stop()


async def test_a_comma_separated_nats_url_lists_cluster_seeds(settings: Settings) -> None:
    dead_seed = f"nats://127.0.0.1:{free_port()}"
    bus = Bus(f"{dead_seed}, {settings.nats_url}", Subjects(settings.subject_prefix), "test")
    await bus.connect(first_attempt_timeout=20)
    try:
        assert bus.connected
        assert bus.nc is not None
        assert bus.nc.connected_url is not None
        assert bus.nc.connected_url.port == int(settings.nats_url.rsplit(":", 1)[1])
    finally:
        await bus.close()


async def test_services_reconnect_and_become_ready_after_nats_restarts(
    settings: Settings,
    start_service,
    aiohttp_client,
    tmp_path: Path,
) -> None:
    port = free_port()
    nats = start_nats(tmp_path / "own-nats", port)
    server = await start_service("identity", dataclasses.replace(settings, nats_url=nats.url))
    http = await aiohttp_client(server)

    async def ready() -> bool:
        return (await http.get("/readyz")).status == 200

    async def not_ready() -> bool:
        return not await ready()

    assert await ready()
    nats.stop()
    await eventually(not_ready, timeout=15)
    nats = start_nats(tmp_path / "own-nats", port)
    try:
        await eventually(ready, timeout=30)
    finally:
        nats.stop()


async def test_api_routing_errors_answer_the_documented_json_body(
    start_service, aiohttp_client
) -> None:
    http = await aiohttp_client(await start_service("gateway"))

    resp = await http.get("/v1/no-such-endpoint")
    assert resp.status == 404
    assert await resp.json() == {
        "code": "not_found",
        "message": "Not Found: GET /v1/no-such-endpoint",
        "request_id": resp.headers["X-Request-Id"],
    }

    resp = await http.get("/v1/batch")
    assert resp.status == 405
    assert (await resp.json())["code"] == "method_not_allowed"
    assert "POST" in resp.headers["Allow"]

    resp = await http.get("/not-the-api")  # outside the API, aiohttp's plain page is fine
    assert resp.status == 404
    assert resp.content_type == "text/plain"

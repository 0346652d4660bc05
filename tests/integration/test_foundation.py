"""Every service answers health, readiness and metrics; services ride out a NATS restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from shared.embedded import free_port, start_nats
from shared.settings import Settings
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
    assert body["checks"]["nats"] is True
    if name != "gateway":  # the gateway is stateless: no database of its own
        assert body["checks"]["mongo"] is True

    resp = await http.get("/metrics")
    text = await resp.text()
    assert resp.status == 200
    assert 'parley_http_requests_total{method="GET",route="/healthz"' in text
    assert "parley_events_consumed_total" in text


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
    }

    resp = await http.get("/v1/batch")
    assert resp.status == 405
    assert (await resp.json())["code"] == "method_not_allowed"
    assert "POST" in resp.headers["Allow"]

    resp = await http.get("/not-the-api")  # outside the API, aiohttp's plain page is fine
    assert resp.status == 404
    assert resp.content_type == "text/plain"

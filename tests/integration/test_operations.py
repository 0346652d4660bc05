"""What operators rely on: the metrics port and its figures, request ids and access logs,
the demo flag, and the default workspace's seeding that never brings a rotated key back."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from nats.js.api import AckPolicy, ConsumerConfig
from prometheus_client.parser import text_string_to_metric_families

from shared import web as shared_web
from shared.bus import Bus
from shared.settings import Settings
from shared.web import METRICS_PORT, WORKSPACES
from shared.web import consumers as web_consumers
from shared.workspaces import DEFAULT_WORKSPACE_ID, WorkspaceRegistry
from tests.integration.chat_support import conversation_of, visitor_says
from tests.integration.dashboard_support import signed_in_client
from tests.integration.widget_bus import agent_says
from tests.support import basic_auth, eventually


async def scrape(server: TestServer) -> dict[tuple[str, frozenset], float]:
    """Every sample of the service's metrics port, keyed by (name, labels)."""
    url = f"http://127.0.0.1:{server.app[METRICS_PORT]}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200
        text = await resp.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def figure(server: TestServer, name: str, **labels: str) -> float:
    return (await scrape(server)).get((name, frozenset(labels.items())), 0.0)


async def until_figure(server: TestServer, name: str, value: float, **labels: str) -> None:
    async def reached() -> bool:
        return await figure(server, name, **labels) == value

    await eventually(reached, timeout=15)


# --- request ids and access logs --------------------------------------------------------


async def test_every_request_gets_an_id_in_its_header_its_errors_and_the_access_log(
    start_service, aiohttp_client, caplog: pytest.LogCaptureFixture
) -> None:
    http = await aiohttp_client(await start_service("gateway"))
    caplog.set_level(logging.INFO, logger="parley.access")

    resp = await http.post("/v1/track?key=wk_secret_in_query", json={"event": "x"})
    body = await resp.json()
    rid = resp.headers["X-Request-Id"]
    assert resp.status == 401
    assert body["code"] == "unauthorized" and body["request_id"] == rid

    # an id from an untrusted peer is not believed (anyone could send one)
    resp = await http.get("/healthz", headers={"X-Request-Id": "forged-id"})
    assert resp.headers["X-Request-Id"] not in ("forged-id", rid)

    lines = [r for r in caplog.records if r.name == "parley.access"]
    # the access log's fields are the records' extra attributes
    track = next(vars(r) for r in lines if vars(r)["request_id"] == rid)
    assert (track["method"], track["path"], track["status"]) == ("POST", "/v1/track", 401)
    assert track["client_ip"] == "127.0.0.1"
    assert isinstance(track["duration_ms"], float)
    assert not any("wk_secret_in_query" in r.getMessage() + vars(r)["path"] for r in lines)


async def test_a_trusted_proxy_request_id_is_kept_end_to_end(
    settings: Settings, start_service, aiohttp_client
) -> None:
    behind_proxy = settings.with_changes(trusted_proxies=("127.0.0.1",))
    http = await aiohttp_client(await start_service("gateway", behind_proxy))
    resp = await http.get("/v1/nope", headers={"X-Request-Id": "lb-1234"})
    assert resp.headers["X-Request-Id"] == "lb-1234"
    assert (await resp.json())["request_id"] == "lb-1234"
    # a malformed one (header injection, huge) is replaced
    resp = await http.get("/healthz", headers={"X-Request-Id": "x" * 500})
    assert len(resp.headers["X-Request-Id"]) == 32


# --- the demo site ----------------------------------------------------------------------


async def test_the_demo_site_is_mounted_only_with_parley_demo(
    settings: Settings, start_service, aiohttp_client
) -> None:
    with_demo = await aiohttp_client(
        await start_service("gateway", settings.with_changes(demo=True))
    )
    assert (await with_demo.get("/demo/")).status == 200
    assert (await with_demo.post("/demo/login", data={"email": "a@b.c"})).status == 200
    alone = await aiohttp_client(await start_service("gateway", settings.with_changes(demo=False)))
    for path in ("/demo/", "/demo/login", "/demo/account"):
        assert (await alone.get(path)).status == 404
    assert (await alone.get("/widget.js")).status == 200


def test_the_demo_is_off_unless_asked_for(tmp_path) -> None:
    assert Settings.from_env({"PARLEY_DATA_DIR": str(tmp_path)}).demo is False
    on = Settings.from_env({"PARLEY_DATA_DIR": str(tmp_path), "PARLEY_DEMO": "true"})
    assert on.demo is True


# --- domain figures on the metrics port ------------------------------------------------


async def test_ingest_refusals_and_rate_limit_hits_are_counted(
    settings: Settings, start_service, aiohttp_client
) -> None:
    server = await start_service("gateway")
    http = await aiohttp_client(server)
    auth = basic_auth(settings.write_key)
    before = await scrape(server)

    def moved(after: dict, name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert (await http.post("/v1/track", json={"event": "x"})).status == 401
    resp = await http.post("/v1/batch", json={"batch": [{"type": "track"}]}, headers=auth)
    code = (await resp.json())["rejected"][0]["code"]
    registry = server.app[WORKSPACES]
    ws = registry.get(DEFAULT_WORKSPACE_ID)
    await registry.put(dataclasses.replace(ws, ingest_rate_per_second=1))
    batch = [{"type": "track", "event": "e", "userId": "u"} for _ in range(10)]
    assert (await http.post("/v1/batch", json={"batch": batch}, headers=auth)).status == 200
    assert (await http.post("/v1/batch", json={"batch": batch}, headers=auth)).status == 429

    after = await scrape(server)
    assert moved(after, "parley_ingest_refused_total", reason="unauthorized") == 1
    assert moved(after, "parley_ingest_refused_total", reason=code) == 1
    assert moved(after, "parley_ingest_refused_total", reason="rate_limited") == 1
    assert moved(after, "parley_rate_limited_total", service="gateway", limit="ingest") == 1


async def test_open_visitor_and_agent_sockets_are_counted(
    settings: Settings, start_service, aiohttp_client
) -> None:
    gateway = await start_service("gateway")
    visitors = await aiohttp_client(gateway)
    agent = await signed_in_client(start_service, aiohttp_client, "chat")
    labels = {"service": "gateway", "kind": "visitor"}
    base = await figure(gateway, "parley_websocket_connections", **labels)

    ws = await visitors.ws_connect(f"/v1/widget/ws?key={settings.write_key}")
    await until_figure(gateway, "parley_websocket_connections", base + 1, **labels)
    await ws.close()
    await until_figure(gateway, "parley_websocket_connections", base, **labels)

    agent_labels = {"service": "dashboard", "kind": "agent"}
    origin = str(agent.make_url("/")).rstrip("/")
    sock = await agent.ws_connect(f"/ws?csrf={agent.csrf}", headers={"Origin": origin})
    assert (await sock.receive_json(timeout=5))["type"] == "hello"
    dashboard = agent.server
    assert isinstance(dashboard, TestServer)
    await until_figure(dashboard, "parley_websocket_connections", 1, **agent_labels)
    await sock.close()
    await until_figure(dashboard, "parley_websocket_connections", 0, **agent_labels)


async def test_chat_messages_in_and_out_are_counted(start_service, bus: Bus) -> None:
    chat = await start_service("chat")
    before_in = await figure(chat, "parley_chat_messages_total", direction="in")
    before_out = await figure(chat, "parley_chat_messages_total", direction="out")
    visitor = "v-" + uuid.uuid4().hex[:8]
    cmid = await visitor_says(bus, visitor, "hello?")
    await visitor_says(bus, visitor, "hello?", client_msg_id=cmid)  # a retry: stored once
    conversation = await conversation_of(bus, visitor)
    await agent_says(bus, conversation["conversation_id"], "hi!", "a-1")
    await agent_says(bus, conversation["conversation_id"], "hi!", "a-1")  # a retry too
    await until_figure(chat, "parley_chat_messages_total", before_in + 1, direction="in")
    assert await figure(chat, "parley_chat_messages_total", direction="out") == before_out + 1


async def test_the_event_loops_asyncio_tasks_are_counted_when_scraped(start_service) -> None:
    gateway = await start_service("gateway")
    labels = {"service": "gateway"}
    before = await figure(gateway, "parley_asyncio_tasks", **labels)
    assert before >= 1  # at least the task serving this scrape
    release = asyncio.Event()
    parked = [asyncio.create_task(release.wait()) for _ in range(25)]
    try:
        assert await figure(gateway, "parley_asyncio_tasks", **labels) >= before + 25
    finally:
        release.set()
        await asyncio.gather(*parked)
    assert await figure(gateway, "parley_asyncio_tasks", **labels) < before + 25


async def test_consumer_lag_redeliveries_and_dead_letters_are_read_from_jetstream(
    settings: Settings, aiohttp_server, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.identity.app import create_app

    monkeypatch.setattr(web_consumers, "CONSUMER_STATS_EVERY", 0.2)
    s = bus.subjects
    subject = s.events(DEFAULT_WORKSPACE_ID, "track")
    # a probe consumer nobody serves, so its lag and redeliveries hold still to be read
    assert bus.js is not None
    await bus.js.add_consumer(
        s.events_stream,
        ConsumerConfig(
            durable_name="probe",
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=1,
            filter_subject=subject,
        ),
    )
    app = create_app(settings)
    shared_web.watch_consumers(app, (s.events_stream, "probe"))
    server = await aiohttp_server(app)
    probe = {"service": "identity", "consumer": "probe"}
    identity = {"service": "identity", "consumer": "identity"}

    # a message that is not a JSON object can never apply: identity dead-letters it
    for n in range(3):
        await bus.js.publish(subject, json.dumps(["not", "an", "object", n]).encode())
    await until_figure(server, "parley_consumer_pending", 3, **probe)
    await until_figure(server, "parley_dead_letters", 3, **identity)
    await until_figure(server, "parley_consumer_pending", 0, **identity)

    sub = await bus.js.pull_subscribe_bind("probe", s.events_stream)
    (first,) = await sub.fetch(1, timeout=5)
    await until_figure(server, "parley_consumer_ack_pending", 1, **probe)
    assert await figure(server, "parley_consumer_pending", **probe) == 2
    await asyncio.sleep(1.5)  # past ack_wait: the server delivers it again
    (again,) = await sub.fetch(1, timeout=5)
    assert again.metadata.num_delivered == 2
    await until_figure(server, "parley_consumer_redelivered", 1, **probe)
    await again.ack()
    await until_figure(server, "parley_consumer_redelivered", 0, **probe)
    await sub.unsubscribe()


# --- the default workspace's seeding ----------------------------------------------------


async def test_a_rotated_key_survives_restarts_even_when_other_settings_change(
    settings: Settings, bus: Bus
) -> None:
    async def start(with_settings: Settings) -> WorkspaceRegistry:
        registry = WorkspaceRegistry(bus)
        await registry.start()
        await registry.ensure_default(with_settings)
        await registry.stop()
        return registry

    first = await start(settings)
    ws = first.get(DEFAULT_WORKSPACE_ID)
    assert ws is not None and ws.write_key == settings.write_key
    await first.put(dataclasses.replace(ws, write_key="wk_rotated"))  # what the dashboard does

    again = (await start(settings)).get(DEFAULT_WORKSPACE_ID)
    assert again is not None and again.write_key == "wk_rotated"

    # the operator changes the allowed origins: only those are applied, the old key
    # still in secrets.json is not brought back
    origins = settings.with_changes(allowed_origins=("https://shop.example",))
    changed = (await start(origins)).get(DEFAULT_WORKSPACE_ID)
    assert changed is not None and changed.allowed_origins == ["https://shop.example"]
    assert changed.write_key == "wk_rotated"

    # setting a new key in the environment is a change of that setting: it applies
    new_key = origins.with_changes(write_key="wk_from_env")
    from_env = (await start(new_key)).get(DEFAULT_WORKSPACE_ID)
    assert from_env is not None and from_env.write_key == "wk_from_env"


async def test_the_ingest_rate_setting_seeds_the_default_workspace(
    settings: Settings, bus: Bus
) -> None:
    env = {"PARLEY_DATA_DIR": str(settings.data_dir), "PARLEY_INGEST_RATE": "7000"}
    assert Settings.from_env(env).ingest_rate_per_second == 7000
    with pytest.raises(ValueError, match="PARLEY_INGEST_RATE"):
        Settings.from_env({**env, "PARLEY_INGEST_RATE": "0"})

    async def seeded(with_settings: Settings) -> int:
        registry = WorkspaceRegistry(bus)
        await registry.start()
        ws = await registry.ensure_default(with_settings)
        await registry.stop()
        return ws.ingest_rate_per_second

    assert await seeded(settings) == settings.ingest_rate_per_second
    assert await seeded(settings.with_changes(ingest_rate_per_second=7000)) == 7000
    # a value set in the dashboard stays until the setting itself changes again
    registry = WorkspaceRegistry(bus)
    await registry.start()
    ws = registry.get(DEFAULT_WORKSPACE_ID)
    assert ws is not None
    await registry.put(dataclasses.replace(ws, ingest_rate_per_second=300))
    await registry.stop()
    assert await seeded(settings.with_changes(ingest_rate_per_second=7000)) == 300

"""What analytics.js and RudderStack's SDKs need of the gateway beyond /v1/batch, with raw
HTTP against the real gateway (and identity where profiles are read): the settings and
source config documents, the short routes, text/plain bodies, beacons, the preflights,
identify traits in context.traits, and the event debugger's feed in the dashboard."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp
import pytest

from services.dashboard.keys import STORE
from services.gateway.ingest import SHORT_ROUTES
from shared.web import WORKSPACES
from tests.conftest import StartService
from tests.integration.dashboard_support import sign_in, signed_in_client
from tests.integration.identity_support import Stack
from tests.support import basic_auth, eventually

SHOP = "https://shop.example"


@pytest.fixture
async def stack(start_service: StartService, settings) -> Stack:
    gateway = await start_service("gateway")
    return Stack(gateway, settings, [await start_service("identity")])


async def _allow_only(stack: Stack, *origins: str) -> None:
    registry = stack.gateway.app[WORKSPACES]
    workspace = registry.get("default")
    assert workspace is not None
    workspace.allowed_origins = list(origins)
    await registry.put(workspace)


async def _request(stack: Stack, method: str, path: str, **kwargs: Any) -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, stack.url + path, **kwargs) as resp:
            text = await resp.text()
            body = json.loads(text) if text and text[0] in "{[" else text
            return resp.status, body, resp.headers


async def test_the_settings_document_points_analytics_js_back_at_the_gateway(
    stack: Stack,
) -> None:
    key = stack.settings.write_key
    status, doc, headers = await _request(
        stack, "GET", f"/v1/projects/{key}/settings", headers={"Origin": SHOP}
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == SHOP
    segment = doc["integrations"]["Segment.io"]
    public = stack.settings.public_url.split("://", 1)
    assert list(doc["integrations"]) == ["Segment.io"]  # no destination bundle to load
    assert segment["apiKey"] == key and segment["protocol"] == public[0]
    assert segment["apiHost"] == public[1] + "/v1"
    assert doc["metrics"]["sampleRate"] == 0 and doc["remotePlugins"] == []
    # an unknown key, the secret key, an origin off the allow-list: no document
    assert (await _request(stack, "GET", "/v1/projects/wk_nope/settings"))[0] == 401
    secret = stack.settings.secret_key
    status, body, _ = await _request(stack, "GET", f"/v1/projects/{secret}/settings")
    assert status == 401 and secret not in json.dumps(body)
    await _allow_only(stack, SHOP)
    status, _, _ = await _request(
        stack, "GET", f"/v1/projects/{key}/settings", headers={"Origin": "https://evil.example"}
    )
    assert status == 403


async def test_the_source_config_is_one_rudderstack_validates(stack: Stack) -> None:
    key = stack.settings.write_key
    for kwargs in ({"params": {"writeKey": key}}, {"headers": basic_auth(key)}):
        status, doc, _ = await _request(stack, "GET", "/sourceConfig/", **kwargs)
        assert status == 200, doc
        source = doc["source"]  # isValidSourceConfig's checks, and enabled
        assert source["id"] and isinstance(source["config"], dict)
        assert source["destinations"] == [] and source["enabled"] is True
        assert source["config"]["statsCollection"]["metrics"]["enabled"] is False
    assert (await _request(stack, "GET", "/sourceConfig/", params={"writeKey": "x"}))[0] == 401


@pytest.mark.parametrize("path", ["/v1/t", "/v1/b", "/v1/identify", "/beacon/v1/batch"])
async def test_preflights_allow_the_sdks_headers_for_admitted_origins(
    stack: Stack, path: str
) -> None:
    await _allow_only(stack, SHOP)
    asked = "authorization,content-type,x-retry-count,anonymousid,sentat,rsa-retry-attempt"
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": asked}
    status, _, headers = await _request(stack, "OPTIONS", path, headers={"Origin": SHOP, **ask})
    assert status == 204 and headers["Access-Control-Allow-Origin"] == SHOP
    allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert set(asked.split(",")) <= allowed
    status, _, headers = await _request(
        stack, "OPTIONS", path, headers={"Origin": "https://evil.example", **ask}
    )
    assert status == 403 and "Access-Control-Allow-Origin" not in headers


async def test_short_routes_take_text_plain_bodies_with_the_key_in_them(stack: Stack) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    key = stack.settings.write_key
    for letter, kind in SHORT_ROUTES.items():
        message: dict[str, Any] = {"userId": user, "writeKey": key, "_metadata": {}}
        if kind == "track":
            message["event"] = "Clicked"
        if kind == "group":
            message["groupId"] = "g-1"
        if kind == "alias":
            message["previousId"] = "anon-" + user
        body = json.dumps(message)
        status, answer, headers = await _request(
            stack,
            "POST",
            f"/v1/{letter}",
            data=body,
            headers={"Content-Type": "text/plain", "Origin": SHOP},
        )
        assert status == 200 and answer == {"success": True}, (letter, answer)
        assert "Retry-After" in headers["Access-Control-Expose-Headers"]
    await stack.wait_profile(lambda p: p["user_id"] == user, user_id=user)


async def test_metrics_are_accepted_and_dropped(stack: Stack) -> None:
    series = {"series": [{"type": "Counter", "metric": "x", "value": 1, "tags": {}}]}
    status, answer, _ = await _request(stack, "POST", "/v1/m", data=json.dumps(series))
    assert status == 200 and answer == {"success": True}


async def test_a_beacon_names_its_write_key_in_the_query(stack: Stack) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    batch = {"batch": [{"type": "track", "userId": user, "event": "Left"}], "sentAt": None}
    key = stack.settings.write_key
    status, answer, _ = await _request(
        stack, "POST", f"/beacon/v1/batch?writeKey={key}", data=json.dumps(batch)
    )
    assert status == 200, answer
    assert (await _request(stack, "POST", "/beacon/v1/batch", data=json.dumps(batch)))[0] == 401
    await stack.wait_profile(lambda p: True, user_id=user)


async def test_identify_traits_from_context_traits_the_root_winning(stack: Stack) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    body = {
        "userId": user,
        "originalTimestamp": "2026-06-01T10:00:00.000Z",
        "traits": {"plan": "root"},
        "context": {"traits": {"plan": "nested", "email": f"{user}@example.com", "seats": 4}},
    }
    status, _, _ = await stack.post("/v1/identify", body, key=stack.settings.secret_key)
    assert status == 200
    profile = await stack.wait_profile(lambda p: p["email"], user_id=user)
    assert profile["traits"]["plan"] == "root" and profile["traits"]["seats"] == 4
    assert profile["email"] == f"{user}@example.com"


async def test_a_429_says_when_to_retry_and_lets_the_page_read_it(stack: Stack) -> None:
    registry = stack.gateway.app[WORKSPACES]
    workspace = registry.get("default")
    assert workspace is not None
    workspace.ingest_rate_per_second = 1
    await registry.put(workspace)
    batch = {"batch": [{"type": "track", "anonymousId": "a", "event": "e"}] * 5}
    for _ in range(2):  # the first takes the burst (twice the rate)
        status, _, headers = await _request(
            stack,
            "POST",
            "/v1/b",
            data=json.dumps(batch),
            headers={**basic_auth(stack.settings.write_key), "Origin": SHOP},
        )
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert "Retry-After" in headers["Access-Control-Expose-Headers"]


async def test_the_event_debugger_shows_accepted_and_refused_live(
    stack: Stack, start_service: StartService, aiohttp_client: Any
) -> None:
    client = await signed_in_client(start_service, aiohttp_client)
    page = await client.get("/debugger")
    assert page.status == 200 and "Nothing yet" in await page.text()
    first = (await (await client.get("/debugger/events")).json())["last"]
    batch = {
        "batch": [
            {"type": "track", "userId": "u-dbg", "event": "<script>alert(1)</script>"},
            {"type": "identify", "userId": "undefined"},
        ]
    }
    status, answer, _ = await stack.post("/v1/batch", batch, key=stack.settings.write_key)
    assert status == 200 and answer["accepted"] == 1
    await stack.post("/v1/track", {"event": "no ids"}, key="wk_unknown")  # no workspace: unseen
    await _allow_only(stack, SHOP)
    evil = {"Origin": "https://evil.example"}
    body = {"userId": "u-evil", "event": "e"}
    status, _, _ = await stack.post("/v1/t", body, key=stack.settings.write_key, headers=evil)
    assert status == 403
    seen: dict[str, Any] = {}

    async def arrived() -> bool:
        reply = await client.get("/debugger/events", params={"after": str(first or 0)})
        seen.update(await reply.json())
        return len(seen["entries"]) >= 3

    await eventually(arrived, timeout=10)
    accepted, refused, origin = seen["entries"]
    assert origin["status"] == "refused" and origin["code"] == "origin_not_allowed"
    assert origin["route"] == "/v1/t"
    assert accepted["status"] == "accepted" and accepted["user_id"] == "u-dbg"
    assert refused["status"] == "refused" and refused["code"] == "illegal_id"
    assert "placeholder" in refused["reason"] and refused["route"] == "/v1/batch"
    html = await (await client.get("/debugger")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "illegal_id" in html
    assert (await client.get("/debugger/events", params={"after": "x"})).status == 400


async def test_only_admins_open_the_event_debugger(
    start_service: StartService, aiohttp_client: Any
) -> None:
    admin = await signed_in_client(start_service, aiohttp_client)
    await admin.app[STORE].create_agent(
        "ann@example.com", "Ann", "a long secret", "agent", "default"
    )
    ann = await aiohttp_client(admin.server)
    await sign_in(ann, "ann@example.com", "a long secret")
    assert (await ann.get("/debugger")).status == 403
    assert (await ann.get("/debugger/events")).status == 403
    assert 'href="/debugger"' not in await (await ann.get("/inbox")).text()
    assert 'href="/debugger"' in await (await admin.get("/inbox")).text()


async def test_another_workspaces_feed_never_shows(
    stack: Stack, start_service: StartService, aiohttp_client: Any, bus: Any
) -> None:
    client = await signed_in_client(start_service, aiohttp_client)
    other = {
        "workspace_id": "someone-else",
        "at": "2026-01-01T00:00:00Z",
        "entries": [{"status": "accepted", "route": "/v1/t", "user_id": "u-theirs"}],
    }
    await bus.publish(bus.subjects.debug_events("someone-else"), other)
    status, _, _ = await stack.post(
        "/v1/track", {"userId": "u-ours", "event": "e"}, key=stack.settings.write_key
    )
    assert status == 200

    async def ours_arrived() -> bool:
        entries = (await (await client.get("/debugger/events")).json())["entries"]
        return any(e["user_id"] == "u-ours" for e in entries)

    await eventually(ours_arrived, timeout=10)
    html = await (await client.get("/debugger")).text()
    assert "u-ours" in html and "u-theirs" not in html

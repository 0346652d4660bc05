"""The browser SDKs, unchanged but for their host, in real Chromium on a host page of
another origin: analytics.js (`@segment/analytics-next`, its npm build with `cdnURL` at the
gateway) in standard and batching delivery, and RudderStack's JS SDK
(`@rudderstack/analytics-js`, its bundled build with `dataPlaneUrl` and `configUrl` at the
gateway) with per-event XHR, batched XHR and beacons. Every request the page makes goes to
the host page or the gateway (nothing to a Segment or RudderStack host), and the events
land on the right profiles, read back through the profiles API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import Servers, StartService
from tests.integration.identity_support import Stack
from tests.sdk.npm import ANALYTICS_NEXT_UMD, RUDDERSTACK_UMD, installed
from tests.sdk.support import landed, run_id, sdk_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCRIPTS = {
    "/sdk/analytics-next.js": ANALYTICS_NEXT_UMD,
    "/sdk/rudderstack.js": RUDDERSTACK_UMD / "index.js",
}


@pytest.fixture
async def stack(start_service: StartService, servers: Servers, tmp_path: Path) -> Stack:
    return await sdk_stack(start_service, servers, tmp_path / "data")


async def start_host(aiohttp_server: Any, pages: dict[str, str]) -> TestServer:
    """The product's site on its own port (its own origin): pages and the SDKs' npm builds."""
    installed()

    async def serve(request: web.Request) -> web.StreamResponse:
        if request.path in SCRIPTS:
            return web.FileResponse(SCRIPTS[request.path])
        if request.path in pages:
            return web.Response(text=pages[request.path], content_type="text/html")
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    return await aiohttp_server(app)


def _page(script: str, body: str) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Acme</title>
<script src="{script}"></script></head><body><h1>Acme pricing</h1>
<script>{body}</script></body></html>"""


def segment_page(gateway: str, key: str, user: str, options: dict[str, Any]) -> str:
    """analytics.js as an npm user loads it: AnalyticsBrowser.load with cdnURL."""
    return _page(
        "/sdk/analytics-next.js",
        f"""
window.sent = (async () => {{
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(
    {{ writeKey: {json.dumps(key)}, cdnURL: {json.dumps(gateway)} }}, {json.dumps(options)});
  const calls = await Promise.all([
    analytics.identify({json.dumps(user)},
      {{ email: {json.dumps(user + "@example.com")}, name: "Ana Browser", plan: "pro" }}),
    analytics.track("Viewed Pricing", {{ tier: "team" }}),
    analytics.page("Pricing"),
  ]);
  return calls.map((ctx) => {{
    const failed = ctx.failedDelivery();
    return {{ type: ctx.event.type, failed: failed ? String(failed.reason) : null }};
  }});
}})();""",
    )


def rudderstack_page(gateway: str, key: str, user: str, options: dict[str, Any]) -> str:
    """RudderStack's SDK as its docs load it: load(writeKey, dataPlaneUrl, {configUrl})."""
    return _page(
        "/sdk/rudderstack.js",
        f"""
const ra = new rudderanalytics.RudderAnalytics();
window.loaded = new Promise((resolve) => ra.ready(() => resolve(true)));
ra.load({json.dumps(key)}, {json.dumps(gateway)},
  Object.assign({{ configUrl: {json.dumps(gateway)}, logLevel: "ERROR" }}, {json.dumps(options)}));
ra.identify({json.dumps(user)},
  {{ email: {json.dumps(user + "@example.com")}, name: "Rae Browser", plan: "team" }});
ra.track("Viewed Pricing", {{ tier: "team" }});""",
    )


async def _visit(browser: Any, url: str) -> tuple[Any, list[str]]:
    """Open `url`; every request the page makes is recorded (method and URL)."""
    context = await browser.new_context()
    page = await context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url}"))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(url)
    assert not errors, errors
    return page, requests


def _only_ours(requests: list[str], *origins: str) -> None:
    strays = [r for r in requests if not r.split(" ", 1)[1].startswith(origins)]
    assert not strays, f"requests left the host page and the gateway: {strays}"


def _paths(requests: list[str], gateway: str) -> set[str]:
    return {
        r.split(" ", 1)[0] + " " + r.split(" ", 1)[1][len(gateway) :].split("?")[0]
        for r in requests
        if r.split(" ", 1)[1].startswith(gateway)
    }


@pytest.mark.parametrize("batching", [False, True], ids=["standard", "batching"])
async def test_analytics_js_with_cdn_url_at_the_gateway(
    stack: Stack, browser: Any, aiohttp_server: Any, batching: bool
) -> None:
    user = f"ajs-{run_id()}"
    options: dict[str, Any] = {}
    if batching:
        strategy = {"strategy": "batching", "config": {"size": 3, "timeout": 300}}
        options = {"integrations": {"Segment.io": {"deliveryStrategy": strategy}}}
    gateway = stack.url
    html = segment_page(gateway, stack.settings.write_key, user, options)
    host = await start_host(aiohttp_server, {"/": html})
    page, requests = await _visit(browser, str(host.make_url("/")))
    sent = await page.evaluate("window.sent")
    assert [c["failed"] for c in sent] == [None, None, None], sent
    await landed(
        stack,
        user,
        {"name": "Ana Browser", "email": f"{user}@example.com", "plan": "pro"},
        {"identify", "Viewed Pricing", "page"},
    )
    _only_ours(requests, str(host.make_url("")), gateway)
    paths = _paths(requests, gateway)
    assert f"GET /v1/projects/{stack.settings.write_key}/settings" in paths
    if batching:
        assert "POST /v1/b" in paths and "POST /v1/t" not in paths, paths
    else:
        assert {"POST /v1/i", "POST /v1/t", "POST /v1/p"} <= paths, paths
    assert "POST /v1/m" not in paths  # the settings turn its metrics off
    await page.context.close()


RUDDERSTACK_MODES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "xhr": ({}, {"POST /v1/identify", "POST /v1/track"}),
    "batch": (
        {"queueOptions": {"batch": {"enabled": True, "maxItems": 2, "flushInterval": 300}}},
        {"POST /v1/batch"},
    ),
    "beacon": (
        {"useBeacon": True, "beaconQueueOptions": {"maxItems": 2, "flushQueueInterval": 300}},
        {"POST /beacon/v1/batch"},
    ),
}


@pytest.mark.parametrize("mode", list(RUDDERSTACK_MODES))
async def test_rudderstack_js_with_data_plane_and_config_at_the_gateway(
    stack: Stack, browser: Any, aiohttp_server: Any, mode: str
) -> None:
    user = f"rsjs-{mode}-{run_id()}"
    options, routes = RUDDERSTACK_MODES[mode]
    gateway = stack.url
    html = rudderstack_page(gateway, stack.settings.write_key, user, options)
    host = await start_host(aiohttp_server, {"/": html})
    page, requests = await _visit(browser, str(host.make_url("/")))
    assert await page.evaluate("window.loaded") is True
    # identify's traits travel in context.traits: read there
    await landed(
        stack,
        user,
        {"name": "Rae Browser", "email": f"{user}@example.com", "plan": "team"},
        {"identify", "Viewed Pricing"},
    )
    _only_ours(requests, str(host.make_url("")), gateway)
    paths = _paths(requests, gateway)
    assert "GET /sourceConfig/" in paths and routes <= paths, paths
    await page.context.close()

"""The widget through a gateway restart, abuse limits and its size budget, in real Chromium."""

from __future__ import annotations

import gzip

import aiohttp
import pytest
from playwright.async_api import expect

from services.gateway.app import create_app
from services.gateway.visitor.limits import LIMITS, Limits
from shared.bus import Bus
from shared.settings import Settings
from tests.e2e.widget_support import (
    conversation_id_of,
    host_page,
    snippet_for,
    start_host,
    visitor_id_of,
)
from tests.integration.widget_bus import agent_says

pytestmark = pytest.mark.e2e

LOADER_BUDGET = 1024
WIDGET_BUDGET = 20 * 1024


@pytest.fixture
async def chat(start_service):
    return await start_service("chat")


async def _open(browser, aiohttp_server, gateway, settings: Settings):
    host = await start_host(
        aiohttp_server, {"/": host_page(snippet_for(gateway, settings.write_key))}
    )
    page = await browser.new_page()
    await page.goto(str(host.make_url("/")))
    await page.get_by_role("button", name="Open chat").click()
    return page


async def test_reconnect_after_a_gateway_restart_misses_and_duplicates_nothing(
    browser, aiohttp_server, chat, start_service, bus: Bus, settings: Settings
) -> None:
    gateway = await start_service("gateway")
    port = gateway.port
    page = await _open(browser, aiohttp_server, gateway, settings)
    log = page.get_by_role("log")
    box = page.get_by_role("textbox", name="Message")
    await box.fill("before the restart")
    await box.press("Enter")
    await expect(log.get_by_text("Sent")).to_be_visible()
    cid = await conversation_id_of(bus, await visitor_id_of(page))
    await agent_says(bus, cid, "reply 2", "a-2")
    await expect(log).to_contain_text("reply 2")

    await gateway.close()
    await expect(page.get_by_role("status")).to_contain_text("reconnecting")
    for n in (3, 4, 5):  # the agent keeps writing while the visitor's gateway is down
        await agent_says(bus, cid, f"reply {n}", f"a-{n}")
    await box.fill("written while offline")
    await box.press("Enter")
    await expect(log.get_by_text("Sending…")).to_be_visible()

    await start_service("gateway", port=port)
    await expect(log).to_contain_text("written while offline", timeout=20_000)
    await expect(log.get_by_text("Sending…")).to_have_count(0, timeout=20_000)
    await expect(log.locator("[data-seq='6']")).to_have_count(1)
    seqs = await log.locator(".m").evaluate_all("els => els.map(e => e.dataset.seq)")
    assert seqs == ["1", "2", "3", "4", "5", "6"]
    texts = await log.locator(".b").all_inner_texts()
    assert texts == [
        "before the restart",
        "reply 2",
        "reply 3",
        "reply 4",
        "reply 5",
        "written while offline",
    ]


async def test_over_size_and_over_rate_input_gets_its_error(
    browser, aiohttp_server, chat, settings: Settings
) -> None:
    app = create_app(settings)
    app[LIMITS] = Limits(messages_burst=2, messages_per_second=0.01)
    gateway = await aiohttp_server(app)
    page = await _open(browser, aiohttp_server, gateway, settings)
    box = page.get_by_role("textbox", name="Message")
    alert = page.get_by_role("alert")

    await box.fill("x" * 4001)
    await box.press("Enter")
    await expect(alert).to_contain_text("too long")
    await expect(page.get_by_role("log").locator(".m")).to_have_count(0)

    for text in ("one", "two", "three"):
        await box.fill(text)
        await box.press("Enter")
    await expect(alert).to_contain_text("too fast")
    failed = page.get_by_role("log").locator(".failed")
    await expect(failed).to_have_count(1)
    await expect(failed).to_contain_text("three")
    await expect(failed.get_by_role("button", name="Retry")).to_be_visible()

    # a hand-made over-size frame from the page's origin gets the gateway's own error
    url = str(gateway.make_url(f"/v1/widget/ws?key={settings.write_key}")).replace("http", "ws")
    code = await page.evaluate(
        """url => new Promise(resolve => {
            const ws = new WebSocket(url);
            ws.onopen = () => ws.send(JSON.stringify({type: 'hello'}));
            ws.onmessage = e => {
              const f = JSON.parse(e.data);
              if (f.type === 'welcome') ws.send(JSON.stringify({type: 'message', text: 'x'.repeat(20000)}));
              if (f.type === 'error' && f.code !== 'unavailable') resolve(f.code);
            };
        })""",
        url,
    )
    assert code == "too_large"


async def test_host_page_css_does_not_reach_the_widget(
    browser, aiohttp_server, start_service, settings: Settings
) -> None:
    gateway = await start_service("gateway")
    host = await start_host(
        aiohttp_server, {"/": host_page(snippet_for(gateway, settings.write_key))}
    )
    page = await browser.new_page(viewport={"width": 1200, "height": 800})
    await page.goto(str(host.make_url("/")))
    launcher = page.get_by_role("button", name="Open chat")
    await expect(launcher).to_be_visible()  # the host hides every <button>, not ours
    box = await launcher.bounding_box()
    assert box and round(box["width"]) == 56
    await launcher.click()
    size = await page.get_by_role("textbox", name="Message").evaluate(
        "el => getComputedStyle(el).fontSize"
    )
    assert size == "16px"  # 16 px: no zoom on iOS, and not the host's 40 px

    phone = await browser.new_page(viewport={"width": 375, "height": 667})
    await phone.goto(str(host.make_url("/")))
    await phone.get_by_role("button", name="Open chat").click()
    panel = await phone.get_by_role("dialog").bounding_box()
    assert panel and (round(panel["width"]), round(panel["height"])) == (375, 667)


async def test_the_size_budget_holds(start_service, settings: Settings) -> None:
    gateway = await start_service("gateway")
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(
            gateway.make_url("/widget.js"), headers={"Accept-Encoding": "gzip"}
        ) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            served = await response.read()
    widget = len(served)
    raw = len(gzip.decompress(served))
    loader = len(gzip.compress(snippet_for(gateway, settings.write_key).encode(), 9))
    print(f"\nwidget.js: {raw} B, {widget} B gzipped (budget {WIDGET_BUDGET})")
    print(f"loader snippet: {loader} B gzipped (budget {LOADER_BUDGET})")
    assert loader <= LOADER_BUDGET, f"the loader is {loader} B gzipped, over budget"
    assert widget + loader <= WIDGET_BUDGET, f"the widget is {widget} B gzipped, over budget"

"""The event debugger in real Chromium: events sent to the API appear on the open page
without a reload, accepted and refused with the reason, their text shown as text."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import expect

from tests.e2e.test_dashboard_live import signed_in_page
from tests.support import basic_auth

pytestmark = pytest.mark.e2e

HOSTILE = '<img src=x onerror="window.pwned=1">'


async def test_new_events_appear_live_as_text(start_service, browser, settings) -> None:
    gateway = await start_service("gateway")
    await start_service("chat")
    server = await start_service("dashboard")
    page = await signed_in_page(browser, str(server.make_url("")).rstrip("/"))
    await page.goto("/debugger")
    await expect(page.get_by_text("Nothing yet")).to_be_visible()

    batch = {
        "batch": [
            {"type": "track", "userId": "u-live", "event": HOSTILE},
            {"type": "track", "anonymousId": "a-live"},  # no event name: refused
        ]
    }
    async with aiohttp.ClientSession() as http:
        url = str(gateway.make_url("/v1/batch"))
        async with http.post(url, json=batch, headers=basic_auth(settings.write_key)) as resp:
            assert resp.status == 200

    rows = page.locator("#debugger-rows tr")
    await expect(rows).to_have_count(2, timeout=10_000)
    await expect(page.get_by_text("Nothing yet")).to_be_hidden()
    refused = page.locator('#debugger-rows tr[data-status="refused"]')
    await expect(refused).to_contain_text("missing_event")
    accepted = page.locator('#debugger-rows tr[data-status="accepted"]')
    await expect(accepted).to_contain_text(HOSTILE)  # shown as text, never markup
    assert await page.locator("#debugger-rows img").count() == 0
    assert await page.evaluate("window.pwned") is None

"""Conversation search in real Chromium: `/` focuses the inbox's box, results are
highlighted, and a query or message that looks like a script stays inert text."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from shared.bus import Bus
from tests.e2e.test_dashboard_live import signed_in_page
from tests.integration.chat_support import conversation_of, visitor_says

pytestmark = pytest.mark.e2e

SCRIPT = "<img src=x onerror=window.__pwned=1><script>window.__pwned=1</script>"


@pytest.fixture
async def dashboard(start_service) -> str:
    await start_service("chat")
    server = await start_service("dashboard")
    return str(server.make_url("")).rstrip("/")


async def test_results_are_highlighted_and_a_script_query_is_inert(
    dashboard, browser, bus: Bus
) -> None:
    await visitor_says(bus, "d-search", f"my invoice {SCRIPT} is wrong")
    cid = (await conversation_of(bus, "d-search"))["conversation_id"]
    page = await signed_in_page(browser, dashboard)
    await page.keyboard.press("/")
    box = page.get_by_role("searchbox", name="Search conversations")
    await expect(box).to_be_focused()
    await box.fill("invoice")
    await box.press("Enter")
    await expect(page).to_have_url(f"{dashboard}/search?q=invoice")
    result = page.locator("ul.search-results li.row")
    await expect(result).to_have_count(1)
    await expect(result.locator(".search-snippet mark")).to_have_text("invoice")
    await expect(result.locator(".search-snippet")).to_contain_text("<script>")
    assert await result.locator(".search-snippet img, .search-snippet script").count() == 0
    # a query that is markup: shown as text in the field, nothing runs
    await page.goto("/search?q=" + SCRIPT.replace("<", "%3C").replace(">", "%3E"))
    await expect(page.get_by_role("searchbox", name="Search conversations")).to_have_value(SCRIPT)
    await expect(page.locator("ul.search-results li.row")).to_have_count(1)  # "script" matches
    await expect(page.locator("ul.search-results mark").first).to_be_visible()
    assert await page.evaluate("window.__pwned === undefined")
    assert await page.locator("main img, main script").count() == 0
    await page.locator("ul.search-results a.row-link").first.click()
    await expect(page).to_have_url(f"{dashboard}/conversations/{cid}")

"""Your profile in real Chromium: the browser's zone is taken on the first visit, and
the times the server renders and the ones live.js writes are in the agent's zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from shared.bus import Bus
from tests.e2e.test_dashboard_live import dashboard, signed_in_page  # noqa: F401 - fixture
from tests.integration.chat_support import conversation_of, visitor_says

pytestmark = pytest.mark.e2e


def clock_in(iso: str, zone: str) -> str:
    at = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return at.astimezone(ZoneInfo(zone)).strftime("%H:%M")


async def last_message_time(page: Page) -> tuple[str, str]:
    stamp = page.locator("#messages .msg-meta time[datetime]").last
    iso = await stamp.get_attribute("datetime")
    title = await stamp.get_attribute("title")
    assert iso and title
    return iso, title


async def test_times_render_in_the_agents_zone(dashboard, browser, bus: Bus) -> None:  # noqa: F811
    await visitor_says(bus, "v-tz", "what time is it there?")
    cid = (await conversation_of(bus, "v-tz"))["conversation_id"]
    page = await signed_in_page(browser, dashboard, timezone_id="Asia/Tokyo")

    # the first visit sent the browser's zone: the profile page has it chosen
    await page.goto("/me/profile")
    await expect(page.locator("main")).to_have_attribute("data-zone-chosen", "true")
    await expect(page.get_by_label("Time zone")).to_have_value("Asia/Tokyo")

    # the server's time (the visitor's message) and live.js's (the reply just sent)
    await page.goto(f"/conversations/{cid}")
    iso, title = await last_message_time(page)
    assert clock_in(iso, "Asia/Tokyo") in title and "JST" in title
    box = page.get_by_role("textbox", name="Reply")
    await box.fill("nine in the morning")
    await box.press("Enter")
    mine = page.locator("#messages .msg-meta time[datetime]")
    await expect(mine).to_have_count(2)
    iso, title = await last_message_time(page)
    assert clock_in(iso, "Asia/Tokyo") in title and clock_in(iso, "UTC") not in title

    # chosen on the profile page: every page follows, the browser's zone is not sent again
    await page.goto("/me/profile")
    await page.get_by_label("Time zone").select_option("America/Lima")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    await page.goto(f"/conversations/{cid}")
    await expect(page.locator("main")).to_have_attribute("data-time-zone", "America/Lima")
    stamp = page.locator("#messages .msg-meta time[datetime]").first
    first = await stamp.get_attribute("datetime")
    assert first
    await expect(stamp).to_have_attribute("title", _lima_title(first))


def _lima_title(iso: str) -> str:
    at = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return at.astimezone(ZoneInfo("America/Lima")).strftime("%d %b %Y, %H:%M -05")

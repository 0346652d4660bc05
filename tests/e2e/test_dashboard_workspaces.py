"""The workspace switcher in real Chromium: create a workspace, switch from the header,
and each workspace's inbox shows only its own conversations."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from shared.bus import Bus
from tests.e2e.test_dashboard_live import signed_in_page
from tests.integration.chat_support import conversation_of, visitor_says

pytestmark = pytest.mark.e2e


@pytest.fixture
async def dashboard(start_service) -> str:
    await start_service("chat")
    server = await start_service("dashboard")
    return str(server.make_url("")).rstrip("/")


async def test_the_header_switcher_moves_every_page_to_the_chosen_workspace(
    dashboard, browser, bus: Bus
) -> None:
    await visitor_says(bus, "v-default", "a question for the default site")
    cid = (await conversation_of(bus, "v-default"))["conversation_id"]
    page = await signed_in_page(browser, dashboard)
    rows = page.locator("#conversation-list li.row")
    await expect(rows).to_have_count(1)
    switcher = page.get_by_label("Workspace", exact=True)
    await expect(switcher.locator("option")).to_have_count(1)

    # create one: its settings open, with its own keys, and the header shows it chosen
    await page.get_by_role("link", name="All workspaces").click()
    await expect(page).to_have_url(re.compile("/workspaces$"))
    await page.get_by_label("New workspace's name").fill("Shop <b>B</b>")
    await page.get_by_role("button", name="Create workspace").click()
    await expect(page).to_have_url(re.compile("/settings$"))
    await expect(switcher.locator("option:checked")).to_have_text("Shop <b>B</b>")
    await expect(page.locator("b", has_text="B")).to_have_count(0)  # a name is text

    # its inbox is empty: the default site's conversation is not there, nor by its id
    await page.goto("/inbox")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(rows).to_have_count(0)
    response = await page.goto(f"/conversations/{cid}")
    assert response is not None and response.status == 404

    # back with the switcher (it submits on change): the default site's inbox again
    await page.goto("/inbox")
    await switcher.select_option(label="Default workspace")
    await expect(page).to_have_url(re.compile("/inbox$"))
    await expect(switcher.locator("option:checked")).to_have_text("Default workspace")
    await expect(rows).to_have_count(1)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await page.goto(f"/conversations/{cid}")
    await expect(page.get_by_text("a question for the default site")).to_be_visible()

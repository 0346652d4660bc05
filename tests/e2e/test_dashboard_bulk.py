"""Labels and bulk actions in real Chromium: an admin adds a label, picks rows, assigns
them to herself with the label, resolves them; a colleague's open thread follows live."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from shared.bus import Bus
from tests.e2e.test_dashboard_live import signed_in_page
from tests.integration.chat_support import ask, conversation_of, visitor_says

pytestmark = pytest.mark.e2e


@pytest.fixture
async def dashboard(start_service) -> str:
    await start_service("chat")
    server = await start_service("dashboard")
    return str(server.make_url("")).rstrip("/")


async def add_label(page: Page, name: str, colour: str) -> None:
    await page.goto("/settings#labels")
    await page.locator("#label-name").fill(name)
    await page.locator("#label-colour").select_option(colour)
    await page.get_by_role("button", name="Add label").click()
    await expect(page.locator("#labels .chip")).to_contain_text([name])


async def test_bulk_select_assign_label_then_resolve(dashboard, browser, bus: Bus) -> None:
    cids = []
    for n in range(3):
        await visitor_says(bus, f"d-bulk-{n}", f"question {n}")
        cids.append((await conversation_of(bus, f"d-bulk-{n}"))["conversation_id"])
    page = await signed_in_page(browser, dashboard)
    await add_label(page, "Refund", "orange")
    await page.goto("/inbox?view=all&status=open")
    rows = page.locator("#conversation-list li.row")
    await expect(rows).to_have_count(3)
    await expect(page.locator('[data-view-count="all"]')).to_have_text("3")

    # select all, then untick one: two rows get the assignment and the label
    await page.get_by_label("Select all").check()
    for n in range(3):
        await expect(rows.nth(n).locator("input.row-pick")).to_be_checked()
    await rows.nth(2).locator("input.row-pick").uncheck()
    await expect(page.get_by_label("Select all")).not_to_be_checked()
    await page.get_by_label("Assign the selected to").select_option("me")
    await page.get_by_label("Add a label to the selected").select_option(label="Refund")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("#conversation-list .chip-orange")).to_have_count(2)
    await expect(page.locator('[data-view-count="mine"]')).to_have_text("2")
    await expect(page.locator(".row-assignee", has_text="Unassigned")).to_have_count(1)

    # a colleague's thread shows the label arriving live
    other = await signed_in_page(browser, dashboard)
    third = await rows.nth(2).get_attribute("data-id")
    await other.goto(f"/conversations/{third}")
    await expect(other.locator("#live-status")).to_have_attribute("data-state", "live")
    await page.locator(f'li.row[data-id="{third}"] input.row-pick').check()
    await page.get_by_label("Add a label to the selected").select_option(label="Refund")
    await page.get_by_role("button", name="Apply").click()
    await expect(other.locator("#conversation-labels .chip-orange")).to_contain_text("Refund")
    await other.get_by_role("button", name="Remove the label Refund").click()
    await expect(other.locator("#conversation-labels .chip")).to_have_count(0)
    await other.get_by_label("Add a label").select_option(label="Refund")
    await expect(other.locator("#conversation-labels .chip-orange")).to_contain_text("Refund")

    # the label filter, then resolve everything
    await page.get_by_role("link", name="Refund").first.click()
    await expect(rows).to_have_count(3)
    await page.get_by_label("Select all").check()
    await page.get_by_role("button", name="Resolve selected").click()
    await expect(rows).to_have_count(0)
    await expect(page.locator('[data-view-count="all"]')).to_have_text("0")
    for cid in cids:
        got = await ask(bus, "conversation.get", conversation_id=cid)
        assert got["conversation"]["status"] == "resolved"

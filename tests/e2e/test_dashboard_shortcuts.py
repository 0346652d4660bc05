"""Keyboard shortcuts for the agent's daily loop, and the note toggle, in real Chromium."""

from __future__ import annotations

import re

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


async def two_conversations(bus: Bus) -> tuple[str, str]:
    """Two visitors' conversations, the older first (the inbox lists the newest first)."""
    await visitor_says(bus, "d-older", "first question")
    older = (await conversation_of(bus, "d-older"))["conversation_id"]
    await visitor_says(bus, "d-newer", "second question")
    newer = (await conversation_of(bus, "d-newer"))["conversation_id"]
    return older, newer


async def blur(page: Page) -> None:
    await page.evaluate("document.activeElement && document.activeElement.blur()")


async def test_j_k_walk_the_inbox_and_the_threads_in_its_order(dashboard, browser, bus) -> None:
    older, newer = await two_conversations(bus)
    page = await signed_in_page(browser, dashboard)
    rows = page.locator("#conversation-list li.row a")
    await expect(rows).to_have_count(2)

    await page.keyboard.press("j")
    await expect(rows.nth(0)).to_be_focused()
    await page.keyboard.press("j")
    await expect(rows.nth(1)).to_be_focused()
    await page.keyboard.press("k")
    await expect(rows.nth(0)).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(f"/conversations/{newer}$"))

    # from a thread, j opens the next conversation of the inbox, k the previous one
    await page.keyboard.press("j")
    await expect(page).to_have_url(re.compile(f"/conversations/{older}$"))
    await page.keyboard.press("k")
    await expect(page).to_have_url(re.compile(f"/conversations/{newer}$"))


async def test_reply_note_assign_resolve_and_the_list_from_the_keyboard(
    dashboard, browser, bus: Bus
) -> None:
    _, cid = await two_conversations(bus)
    page = await signed_in_page(browser, dashboard)
    me = await page.locator("main").get_attribute("data-agent-id")
    await page.goto(f"/conversations/{cid}")
    box = page.get_by_role("textbox", name="Reply")
    internal = page.get_by_label("Internal note")

    # n: a note; typed letters are text, not shortcuts
    await page.keyboard.press("n")
    await expect(box).to_be_focused()
    await expect(internal).to_be_checked()
    await page.keyboard.type("je reviens")
    await expect(box).to_have_value("je reviens")
    await expect(page).to_have_url(re.compile(f"/conversations/{cid}$"))
    await box.fill("")

    # r: a reply again
    await blur(page)
    await page.keyboard.press("r")
    await expect(box).to_be_focused()
    await expect(internal).not_to_be_checked()
    await blur(page)

    # ?: the list of shortcuts; Escape closes it
    await page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Assign it to me")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()

    # i: assigned to me; e: resolved (both stored, not just shown)
    await page.keyboard.press("i")
    await expect(page.locator("#assignee")).to_have_value(me or "")
    await page.keyboard.press("e")
    await expect(page.locator(".conv-title .status")).to_have_text("Resolved")
    stored = (await ask(bus, "conversation.get", conversation_id=cid, agent_id=me))["conversation"]
    assert (stored["status"], stored["assignee_id"]) == ("resolved", me)

    # /: search (the contacts search, focused)
    await page.keyboard.press("/")
    await expect(page).to_have_url(re.compile("/contacts#search$"))
    await expect(page.get_by_role("searchbox")).to_be_focused()


async def test_the_internal_note_toggle_resets_after_sending(dashboard, browser, bus) -> None:
    _, cid = await two_conversations(bus)
    page = await signed_in_page(browser, dashboard)
    await page.goto(f"/conversations/{cid}")
    box = page.get_by_role("textbox", name="Reply")
    internal = page.get_by_label("Internal note")

    await internal.check()
    await expect(page.locator("#composer")).to_have_class(re.compile("is-note"))
    await box.fill("VIP: be nice")
    await box.press("Enter")
    await expect(page.locator("#messages .msg-note:not(.is-pending)")).to_have_count(1)
    await expect(internal).not_to_be_checked()
    await expect(page.locator("#composer")).not_to_have_class(re.compile("is-note"))

    # so the next message goes to the visitor, as a reply
    await box.fill("Hello!")
    await box.press("Enter")
    await expect(page.locator("#messages .msg-agent:not(.is-pending)")).to_have_count(1)

"""CSAT and "Start a new conversation" in real Chromium: an agent resolves in the
dashboard, the widget asks for a rating, the visitor rates, the agent sees it on the
conversation and profile pages; the visitor starts a new conversation and their other
tab follows; a French browser is asked in French, or in the workspace's own words."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from shared.bus import Bus
from shared.settings import Settings
from shared.workspaces import DEFAULT_WORKSPACE_ID
from tests.e2e.test_dashboard_live import signed_in_page
from tests.e2e.test_widget_greeting import IMG, messenger, open_page
from tests.e2e.widget_support import conversation_id_of, visitor_id_of

pytestmark = pytest.mark.e2e
QUESTION = "How would you rate this conversation?"


async def writes(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    await box.fill(text)
    await box.press("Enter")
    await expect(page.get_by_role("log")).to_contain_text(text)


async def test_resolved_rated_seen_by_the_agent_then_a_new_conversation_in_both_tabs(
    browser, aiohttp_server, start_service, bus: Bus, settings: Settings
) -> None:
    await start_service("chat")
    await start_service("identity")
    gateway = await start_service("gateway")
    dashboard = await start_service("dashboard")
    agent = await signed_in_page(browser, str(dashboard.make_url("")).rstrip("/"))
    page = await open_page(browser, aiohttp_server, gateway, settings, locale="en-US")
    await page.get_by_role("button", name="Open chat").click()
    await writes(page, "My order never came")
    cid = await conversation_id_of(bus, await visitor_id_of(page))
    log = page.get_by_role("log")
    await expect(log.get_by_text(QUESTION)).to_be_hidden()  # not before resolution

    # a second tab of the same visitor (same first-party storage), on the same conversation
    tab2 = await page.context.new_page()
    await tab2.goto(page.url)
    await expect(tab2.get_by_role("log")).to_contain_text("My order never came")

    await agent.goto(f"/conversations/{cid}")
    await agent.get_by_role("button", name="Resolve", exact=True).click()
    await expect(agent.locator(".conv-title .status")).to_have_text("Resolved")

    await expect(log.get_by_text("marked resolved")).to_be_visible()
    await expect(log.get_by_text(QUESTION)).to_be_visible()
    send = page.get_by_role("button", name="Send rating")
    await expect(send).to_be_disabled()  # a score first
    await page.get_by_role("radio", name="4 out of 5").click()
    await expect(page.get_by_role("radio", name="4 out of 5")).to_have_attribute(
        "aria-checked", "true"
    )
    await page.get_by_role("textbox", name="Tell us more (optional)").fill(
        '<b>Quick</b> and "kind"'
    )
    await page.screenshot(path=str(IMG / "widget-csat.png"))  # docs/widget.md, CSAT
    await send.click()
    await expect(log.get_by_text("Thanks for your rating: 4/5")).to_be_visible()
    await expect(log.get_by_text(QUESTION)).to_be_hidden()
    await page.reload()  # rated once: the next page thanks, it does not ask again
    await expect(page.get_by_role("log").get_by_text("Thanks for your rating: 4/5")).to_be_visible()

    # the agent sees it on the conversation page, live and after a reload (the comment as
    # text), and on the profile
    rating = agent.locator('.conv-title [data-field="rating"]')
    for _ in ("live", "reloaded"):
        await expect(rating).to_contain_text("4/5")
        await expect(rating).to_contain_text('<b>Quick</b> and "kind"')
        await agent.reload()
    profile_link = agent.get_by_role("link", name="Open full profile")
    await expect(profile_link).to_be_visible(timeout=15_000)
    await profile_link.click()
    await expect(agent.locator('.previous [data-field="rating"]')).to_have_text("\u2605 4/5")

    # a new conversation, not the resolved one reopened; the other tab follows
    await page.get_by_role("button", name="Start a new conversation").click()
    log = page.get_by_role("log")
    await expect(log).not_to_contain_text("My order never came")
    await expect(log.get_by_text("marked resolved")).to_be_hidden()
    await expect(tab2.get_by_role("log")).not_to_contain_text("My order never came")
    await expect(tab2.get_by_role("log").get_by_text("marked resolved")).to_be_hidden()
    await expect(tab2.get_by_role("button", name="Start a new conversation")).to_be_hidden()
    await writes(page, "Another question: returns?")
    await expect(tab2.get_by_role("log")).to_contain_text("Another question: returns?")
    history = await bus.request(
        bus.subjects.request("chat", "conversation.get"),
        {"workspace_id": DEFAULT_WORKSPACE_ID, "conversation_id": cid},
    )
    assert history["conversation"]["status"] == "resolved"  # the old one stays resolved
    await agent.goto("/inbox")  # open conversations: the new one only, a row of its own
    row = agent.locator("#conversation-list li.row")
    await expect(row).to_have_count(1)
    await expect(row.locator(".row-preview")).to_have_text("Another question: returns?")
    assert cid not in (await row.locator("a").first.get_attribute("href") or "")


async def test_a_french_browser_is_asked_in_french_or_in_the_workspaces_words(
    browser, aiohttp_server, chat, gateway, bus: Bus, settings: Settings
) -> None:
    page = await open_page(browser, aiohttp_server, gateway, settings, locale="fr-FR")
    await page.get_by_role("button", name="Ouvrir le chat").click()
    await writes(page, "Bonjour, une question")
    cid = await conversation_id_of(bus, await visitor_id_of(page))
    await bus.request(
        bus.subjects.request("chat", "conversation.update"),
        {"workspace_id": DEFAULT_WORKSPACE_ID, "conversation_id": cid,
         "agent_id": "agent-ann", "status": "resolved"},
    )  # fmt: skip
    log = page.get_by_role("log")
    await expect(log.get_by_text("Comment évaluez-vous cette conversation ?")).to_be_visible()
    await expect(page.get_by_role("button", name="Envoyer la note")).to_be_visible()
    await expect(
        page.get_by_role("button", name="Démarrer une nouvelle conversation")
    ).to_be_visible()
    assert QUESTION not in await log.inner_text()

    await messenger(gateway, widget_strings={"fr": {"rate_question": "Notez notre équipe !"}})
    await page.reload()
    log = page.get_by_role("log")
    await expect(log.get_by_text("Notez notre équipe !")).to_be_visible()
    await page.get_by_role("radio", name="5 sur 5").click()
    await page.get_by_role("button", name="Envoyer la note").click()
    await expect(log.get_by_text("Merci pour votre note : 5/5")).to_be_visible()

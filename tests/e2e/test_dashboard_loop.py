"""The whole loop in real Chromium: a visitor on the demo site, an agent in the dashboard.

Every service runs for real (gateway with the widget and demo site, chat, identity,
dashboard) on the real NATS and Mongo-wire servers; nothing is stood in.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.e2e.test_dashboard_live import signed_in_page

pytestmark = pytest.mark.e2e
XSS = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


async def visitor_writes(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    await box.fill(text)
    await box.press("Enter")
    await expect(page.get_by_role("log")).to_contain_text(text)


async def open_widget(page: Page) -> None:
    await page.get_by_role("log").wait_for(state="attached")
    if not await page.get_by_role("log").is_visible():
        await page.get_by_role("button", name="Open chat").click()


async def demo_account(page: Page, kind: str, email: str) -> None:
    """Sign up or log in on the demo site (it calls parley.alias / parley.identify)."""
    await page.goto(f"/demo/{kind}")
    await page.get_by_label("Email").first.fill(email)
    await page.get_by_label("Password").fill("hunter2 hunter2")
    await page.get_by_role("button", name="Sign up" if kind == "signup" else "Log in").click()
    await expect(page).to_have_url(f"{page.url.split('/demo/')[0]}/demo/account?welcome={kind}")


async def test_visitor_to_member_with_an_agent_answering_live(start_service, browser) -> None:
    await start_service("chat")
    await start_service("identity")
    gateway = await start_service("gateway")
    dashboard = await start_service("dashboard")

    agent = await signed_in_page(browser, str(dashboard.make_url("")).rstrip("/"))
    visitor_context = await browser.new_context(base_url=str(gateway.make_url("")).rstrip("/"))
    visitor = await visitor_context.new_page()
    await visitor.goto("/demo/")
    await visitor.get_by_role("button", name="Open chat").click()

    # the visitor's first message appears live in the inbox, as text
    await visitor_writes(visitor, XSS)
    row = agent.locator("#conversation-list li.row")
    await expect(row).to_have_count(1)
    await expect(row.locator(".row-preview")).to_have_text(XSS)
    await expect(row.locator(".badge")).to_have_text("Visitor")

    # the agent opens it and replies; the visitor sees the reply
    await row.locator("a").click()
    await expect(agent.locator("#messages .msg-visitor .msg-text")).to_have_text(XSS)
    await agent.get_by_label("Reply").fill("Hi! How can I help?")
    await agent.get_by_label("Reply").press("Enter")
    await expect(visitor.get_by_role("log")).to_contain_text("Hi! How can I help?")

    # an email written in the chat makes the person a contact: the badge turns live
    badge = agent.locator("#sidebar .person .badge")
    await expect(badge).to_have_text("Visitor")
    await visitor_writes(visitor, "You can reach me at sally@example.com")
    await expect(badge).to_have_text("Contact", timeout=15_000)
    await expect(agent.locator('#sidebar [data-field="email"]')).to_have_text("sally@example.com")

    # signing up then logging in on the demo site makes her a member, live
    await demo_account(visitor, "signup", "sally@example.com")
    await demo_account(visitor, "login", "sally@example.com")
    await expect(badge).to_have_text("Member", timeout=15_000)
    await expect(agent.locator('#sidebar [data-field="user_id"]')).not_to_have_text("—")

    # the conversation is still hers after the login; nothing anyone typed ran
    await open_widget(visitor)
    await expect(visitor.get_by_role("log")).to_contain_text("Hi! How can I help?")
    assert await agent.evaluate("window.pwned") is None
    assert await visitor.evaluate("window.pwned") is None

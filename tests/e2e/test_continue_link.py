"""A continue link in real Chromium: the visitor chats on the demo site, the agent answers
in the dashboard, and the link (as the mail service mints it) opened in a fresh browser
context shows the answer and carries a new message back to the agent, live."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import expect

from shared.bus import Bus
from shared.continuity import ContinueGrant, continue_link_token
from shared.settings import Settings
from tests.e2e.test_dashboard_live import signed_in_page
from tests.e2e.test_dashboard_loop import visitor_writes
from tests.e2e.widget_support import conversation_id_of, visitor_id_of

pytestmark = pytest.mark.e2e


async def test_a_continue_link_picks_the_chat_up_in_another_browser(
    start_service, browser, bus: Bus, settings: Settings
) -> None:
    await start_service("chat")
    await start_service("identity")
    gateway = await start_service("gateway")
    dashboard = await start_service("dashboard")
    base = str(gateway.make_url("")).rstrip("/")

    agent = await signed_in_page(browser, str(dashboard.make_url("")).rstrip("/"))
    first = await browser.new_context(base_url=base)
    visitor = await first.new_page()
    await visitor.goto("/demo/")
    await visitor.get_by_role("button", name="Open chat").click()
    await visitor_writes(visitor, "Is my order shipped?")

    row = agent.locator("#conversation-list li.row")
    await expect(row).to_have_count(1)
    await row.locator("a").click()
    await agent.get_by_label("Reply").fill("Yes, it left this morning")
    await agent.get_by_label("Reply").press("Enter")
    await expect(visitor.get_by_role("log")).to_contain_text("Yes, it left this morning")
    cid = await conversation_id_of(bus, await visitor_id_of(visitor))
    await first.close()  # the visitor closed the tab

    # another device: the link from the email, in a browser that never saw this visitor
    token = continue_link_token(settings.token_secret, ContinueGrant("default", cid))
    fresh = await browser.new_context(base_url=base)
    resumed = await fresh.new_page()
    await resumed.goto(f"/c/{token}")
    log = resumed.get_by_role("log")
    await expect(log).to_be_visible()  # the widget opens by itself
    await expect(resumed.get_by_text("You\u2019re back in your conversation")).to_be_visible()
    await expect(log).to_contain_text("Is my order shipped?")
    await expect(log).to_contain_text("Yes, it left this morning")

    await visitor_writes(resumed, "Great, thank you!")
    await expect(agent.locator("#messages .msg-visitor .msg-text").last).to_have_text(
        "Great, thank you!"
    )
    listed = await bus.request(
        bus.subjects.request("chat", "conversations.list"), {"workspace_id": "default"}
    )
    assert [c["id"] for c in listed["conversations"]] == [cid]  # the same one, not a new one
    # the agent's next answer reaches the resumed chat live
    await agent.get_by_label("Reply").fill("You're welcome")
    await agent.get_by_label("Reply").press("Enter")
    await expect(log).to_contain_text("You're welcome")

    # nothing of that visitor was kept in the new browser's storage
    stored = await resumed.evaluate("localStorage.getItem('parley_visitor')")
    assert stored is None or "token" not in json.loads(stored)
    assert "parley_visitor" not in await resumed.evaluate("document.cookie")

    # a link that expired: a plain page that says so and how to write again
    expired = continue_link_token(settings.token_secret, ContinueGrant("default", cid), -5)
    gone = await fresh.new_page()
    response = await gone.goto(f"/c/{expired}")
    assert response is not None and response.status == 410
    await expect(gone.get_by_role("heading")).to_have_text("This link has expired")
    await expect(gone.get_by_text("To start a new chat")).to_be_visible()

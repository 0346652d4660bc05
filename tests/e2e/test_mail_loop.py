"""The email loop in real Chromium: a visitor chats on the demo site, leaves their email
and closes the page; the agent answers in the dashboard; the email reaches the test's
SMTP server (aiosmtpd); a reply sent by SMTP to its Reply-To appears live in the
agent's conversation, without the quoted text, marked as sent by email.

(The continue link's page, /c/<token>, is another part's: this test stops at the link.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from playwright.async_api import expect

from shared.settings import Settings
from tests.conftest import Servers, make_env
from tests.e2e.test_dashboard_live import signed_in_page
from tests.e2e.test_dashboard_loop import visitor_writes
from tests.integration.mail_support import (
    SmtpSink,
    agent_says,
    free_port,
    relay_env,
    reply_email,
    text_of,
    visitor_with_email,
)
from tests.support import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
async def sink() -> Any:
    server = await SmtpSink().start()
    yield server
    await server.stop()


@pytest.fixture
async def bus_for() -> Any:
    """A bus client of another deployment's settings (closed after the test)."""
    from shared.bus import Bus
    from shared.subjects import Subjects

    clients: list[Bus] = []

    async def connect(settings: Settings) -> Bus:
        client = Bus(settings.nats_url, Subjects(settings.subject_prefix), "test")
        await client.connect()
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await client.close()


@pytest.fixture
def env(servers: Servers, tmp_path: Path, sink: SmtpSink) -> dict[str, str]:
    extra = relay_env(sink, PARLEY_UNSEEN_EMAIL_DELAY_S="1", PARLEY_REPLY_DOMAIN="reply.test")
    return make_env(servers, tmp_path / "data", **extra)


async def test_the_answer_goes_by_email_and_the_reply_comes_back_live(
    start_service: Any, browser: Any, sink: SmtpSink, settings: Settings
) -> None:
    for name in ("identity", "chat", "mail"):
        await start_service(name)
    gateway = await start_service("gateway")
    dashboard = await start_service("dashboard")
    agent = await signed_in_page(browser, str(dashboard.make_url("")).rstrip("/"))

    visitor_context = await browser.new_context(base_url=str(gateway.make_url("")).rstrip("/"))
    visitor = await visitor_context.new_page()
    await visitor.goto("/demo/")
    await visitor.get_by_role("button", name="Open chat").click()
    await visitor_writes(visitor, "Do you ship to Norway? I'm sally@example.com")
    await visitor.close()  # gone before the answer

    row = agent.locator("#conversation-list li.row")
    await expect(row).to_have_count(1)
    await row.locator("a").click()
    await agent.get_by_label("Reply").fill("Yes, in 3 days.")
    await agent.get_by_label("Reply").press("Enter")

    [email] = await sink.wait_for(1, timeout=20)
    assert str(email["To"]) == "sally@example.com"
    assert "Yes, in 3 days." in text_of(email)
    assert f"{settings.public_url}/c/" in text_of(email)

    await aiosmtplib.send(
        reply_email(str(email["Reply-To"]), "Great, thanks!"),
        hostname="127.0.0.1",
        port=settings.mail.inbound_port,
    )
    reply = agent.locator("#messages .msg-visitor").last
    await expect(reply.locator(".msg-text")).to_have_text("Great, thanks!", timeout=15_000)
    await expect(reply.locator('.msg-via[title="Sent by email"]')).to_be_visible()
    await expect(agent.locator("#messages")).not_to_contain_text("We open at 9")


async def test_the_mail_catcher_page_reads_links_and_replies(
    start_service: Any, browser: Any, servers: Servers, tmp_path: Path, bus_for: Any
) -> None:
    """No relay set: the admin reads the caught email in the dashboard, its links open
    (in a new tab, out of the sandbox), and Reply lands in the conversation."""
    settings = Settings.from_env(
        make_env(
            servers,
            tmp_path / "catcher",
            PARLEY_UNSEEN_EMAIL_DELAY_S="0",
            PARLEY_INBOUND_SMTP_PORT=str(free_port()),
        )
    )
    for name in ("identity", "chat", "mail"):
        await start_service(name, settings=settings)
    dashboard = await start_service("dashboard", settings=settings)
    bus = await bus_for(settings)
    _, cid = await visitor_with_email(bus)
    await agent_says(bus, cid, "We open at 9.")

    agent = await signed_in_page(browser, str(dashboard.make_url("")).rstrip("/"))
    await agent.goto("/mail")
    first = agent.locator("#caught tbody tr a").first
    await expect(first).to_have_text("Ann replied to your conversation", timeout=15_000)
    await first.click()
    frame = agent.frame_locator("iframe.mail-frame")
    link = frame.get_by_role("link", name="Continue the conversation")
    await expect(link).to_have_attribute("href", re.compile(r"/c/"))
    # the continue page is the gateway's (another part): stand in for it at the link
    await agent.context.route("**/c/*", lambda route: route.fulfill(body="continue"))
    async with agent.context.expect_page() as opened:
        await link.click()
    continued = await opened.value
    await continued.wait_for_load_state()
    assert "/c/" in continued.url

    await agent.get_by_label("Reply as the visitor").fill("Perfect, thank you")
    await agent.get_by_role("button", name="Reply").click()
    await expect(agent.locator(".card-success")).to_contain_text("inbound listener")

    async def replied() -> bool:
        got = await bus.request(
            bus.subjects.request("chat", "conversation.get"),
            {"workspace_id": "default", "conversation_id": cid},
        )
        return any(
            m.get("via") == "email" and m["text"] == "Perfect, thank you" for m in got["messages"]
        )

    await eventually(replied)

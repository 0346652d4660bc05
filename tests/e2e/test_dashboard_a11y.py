"""Every dashboard page passes axe-core (no serious or critical violation), in real Chromium.

The real services run (identity, chat, mail, webhooks, dashboard) so each page shows real content:
a conversation with a visitor who gave her email, her profile, the email she was sent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from shared.bus import Bus
from shared.schema.chat_requests import COLOURS
from shared.schema.webhooks import TOPICS
from tests.conftest import Servers, make_env
from tests.e2e.axe import axe_script, blocking_violations
from tests.e2e.test_dashboard_bulk import add_label
from tests.e2e.test_dashboard_canned import add_canned
from tests.e2e.test_dashboard_live import signed_in_page
from tests.integration.chat_support import ask
from tests.integration.mail_support import agent_says, free_port, visitor_with_email
from tests.integration.webhooks_support import hooks

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(servers: Servers, tmp_path: Path) -> dict[str, str]:
    """The unanswered visitor is emailed at once, so the Mail page has an email to open."""
    return make_env(
        servers,
        tmp_path / "data",
        PARLEY_UNSEEN_EMAIL_DELAY_S="0",
        PARLEY_INBOUND_SMTP_PORT=str(free_port()),
    )


async def checked(page: Page, path: str, problems: dict[str, list[str]]) -> None:
    await page.goto(path)
    found = await blocking_violations(page, axe_script())
    if found:
        problems[path] = found


async def first_link(page: Page, path: str, pattern: str) -> str:
    await page.goto(path)
    link = page.locator(f"main a[href^='{pattern}']").first
    await expect(link).to_be_visible(timeout=15000)
    href = await link.get_attribute("href")
    assert href and re.match(pattern, href)
    return href


async def test_every_dashboard_page_passes_axe(start_service, browser, bus: Bus) -> None:
    for name in ("identity", "chat", "mail", "webhooks"):
        await start_service(name)
    server = await start_service("dashboard")
    base = str(server.make_url("")).rstrip("/")
    # refused by the SSRF guard (a loopback address): its delivery log has lines
    webhook = await hooks(bus, "endpoints.create", url="http://127.0.0.1:9/x", topics=TOPICS)
    _, cid = await visitor_with_email(bus)
    await agent_says(bus, cid, "We open at nine.")
    problems: dict[str, list[str]] = {}

    anonymous = await (await browser.new_context(base_url=base, bypass_csp=True)).new_page()
    for path in ("/", "/password/forgot", "/password/reset/not-a-token", "/invite/not-a-token"):
        await checked(anonymous, path, problems)

    page = await signed_in_page(browser, base, bypass_csp=True)
    await add_canned(page, "hello", "Hi {{first_name|there}}!")
    for colour in COLOURS:  # a chip of every colour of the palette on the pages below
        await add_label(page, f"Label {colour}", colour)
    labels = (await ask(bus, "labels.list"))["labels"]
    me = await page.locator("main").get_attribute("data-agent-id")
    ids = [lab["id"] for lab in labels]
    await ask(bus, "conversation.labels", conversation_id=cid, agent_id=me, add=ids)
    profile = await first_link(page, "/contacts", "/contacts/")
    caught = await first_link(page, "/mail", "/mail/")
    pages = [
        "/inbox",
        "/search?q=nine",
        f"/inbox?view=all&status=open&label={ids[0]}",
        f"/conversations/{cid}",
        "/contacts",
        profile,
        "/merge-reviews",
        "/settings",
        "/team",
        "/audit",
        "/deadletters",
        "/suppressions",
        "/debugger",
        "/mail",
        caught,
        "/me/notifications",
        "/settings/webhooks",
        f"/settings/webhooks/{webhook['id']}",
        "/me/profile",
        "/workspaces",
    ]
    for path in pages:
        await checked(page, path, problems)
    # a thread with a note, the canned replies' list open, then the shortcuts' list
    await page.goto(f"/conversations/{cid}")
    box = page.get_by_role("textbox", name="Reply")
    await page.get_by_label("Internal note").check()
    await box.fill("a note for the team")
    await box.press("Enter")
    await expect(page.locator("#messages .msg-note:not(.is-pending)")).to_have_count(1)
    await box.press_sequentially("/he")
    await expect(page.get_by_role("listbox", name="Canned replies")).to_be_visible()
    found = await blocking_violations(page, axe_script())
    if found:
        problems["a thread, canned replies listed"] = found
    await box.press("Escape")
    await box.fill("")
    await box.blur()
    await page.keyboard.press("?")
    await expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    found = await blocking_violations(page, axe_script())
    if found:
        problems["? over a thread"] = found
    assert problems == {}, "\n".join(f"{p}:\n  " + "\n  ".join(v) for p, v in problems.items())

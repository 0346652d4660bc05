"""The widget's header follows presence live, in real Chromium, with the real services.

A visitor keeps one page open (never reloaded) while an agent signs in, browses the
dashboard, closes business hours from the settings page, reopens them and signs out.
Chat runs with a short sign-off grace and duty tick so each change shows in a second.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from services.chat.app import create_app as chat_app
from services.chat.presence import Presence
from shared.settings import Settings
from shared.workspaces import Workspace
from tests.e2e.test_dashboard_live import signed_in_page
from tests.e2e.widget_support import host_page, snippet_for, start_host

pytestmark = pytest.mark.e2e
AWAY = Workspace.away_message  # the field's default
ONLINE = re.compile(r"^\S.* is online$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# every text the header showed, so a blink to "away" cannot go unseen
WATCH_HEADER = """() => {
  const line = document.getElementById('parley-widget').shadowRoot.querySelector('.who p');
  window.headerSeen = [line.textContent];
  new MutationObserver(() => window.headerSeen.push(line.textContent))
    .observe(line, {childList: true, characterData: true, subtree: true});
  window.neverReloaded = true;
}"""


@pytest.fixture
async def chat(aiohttp_server, settings: Settings):
    presence = Presence(warmup=0, sign_off_grace=1.0)
    return await aiohttp_server(chat_app(settings, presence=presence, tick=0.2))


@pytest.fixture
async def gateway(start_service):
    return await start_service("gateway")


@pytest.fixture
async def dashboard(start_service) -> str:
    server = await start_service("dashboard")
    return str(server.make_url("")).rstrip("/")


async def visitor_page(browser, aiohttp_server, gateway, settings: Settings, first) -> Page:
    host = await start_host(
        aiohttp_server, {"/": host_page(snippet_for(gateway, settings.write_key))}
    )
    page = await browser.new_page()
    await page.goto(str(host.make_url("/")))
    await page.get_by_role("button", name="Open chat").click()
    await expect(header(page)).to_have_text(first)
    await page.evaluate(WATCH_HEADER)
    return page


def header(page: Page):
    return page.locator("#parley-widget .who p")


async def save_hours(agent: Page, enabled: bool, away_message: str) -> None:
    await agent.goto("/settings")
    await agent.get_by_label("Set business hours").set_checked(enabled)
    for day in DAYS:  # no open day at all: closed now, whatever the time
        await agent.locator(f'input[name="{day}_on"]').set_checked(False)
    await agent.get_by_label("Away message").fill(away_message)
    await agent.get_by_role("button", name="Save widget settings").click()
    await expect(agent).to_have_url(re.compile(r"/settings\?saved=widget"))


async def test_online_when_an_agent_arrives_after_the_visitor_and_away_when_they_sign_out(
    browser, aiohttp_server, chat, gateway, dashboard: str, settings: Settings
) -> None:
    visitor = await visitor_page(browser, aiohttp_server, gateway, settings, first=AWAY)

    agent = await signed_in_page(browser, dashboard)
    await expect(header(visitor)).to_have_text(ONLINE)

    # the agent moves between pages: each load closes and reopens the socket
    for path in ("/settings", "/contacts", "/inbox"):
        await agent.goto(path)
        await expect(agent.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(header(visitor)).to_have_text(ONLINE)

    await agent.get_by_role("button", name="Sign out").click()
    await expect(header(visitor)).to_have_text(AWAY)
    seen = await visitor.evaluate("window.headerSeen")
    assert [t == AWAY for t in seen] == [True, False, True], seen  # no blink on page loads
    assert await visitor.evaluate("window.neverReloaded") is True


async def test_the_away_message_shows_live_when_business_hours_close_and_reopen(
    browser, aiohttp_server, chat, gateway, dashboard: str, settings: Settings
) -> None:
    agent = await signed_in_page(browser, dashboard)
    visitor = await visitor_page(browser, aiohttp_server, gateway, settings, first=ONLINE)

    # the admin closes every day: the open widget says the new away message
    await save_hours(agent, enabled=True, away_message="Closed today, back Monday at 9.")
    await expect(header(visitor)).to_have_text("Closed today, back Monday at 9.")
    await expect(visitor.locator("#parley-widget .avatars > *")).to_have_count(0)

    # business hours off again: always open, and the agent is still there
    await save_hours(agent, enabled=False, away_message=AWAY)
    await expect(header(visitor)).to_have_text(ONLINE)
    assert await visitor.evaluate("window.neverReloaded") is True


async def test_an_agent_setting_away_and_available_reaches_the_open_widget(
    browser, aiohttp_server, chat, gateway, dashboard: str, settings: Settings
) -> None:
    visitor = await visitor_page(browser, aiohttp_server, gateway, settings, first=AWAY)
    agent = await signed_in_page(browser, dashboard)
    await expect(header(visitor)).to_have_text(ONLINE)

    # the rail's control: the dashboard stays open, yet visitors are told nobody is there
    await agent.get_by_role("button", name="Set Away").click()
    await expect(agent.locator("#my-presence")).to_have_text("Away")
    await expect(agent.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(header(visitor)).to_have_text(AWAY)

    await agent.get_by_role("button", name="Set Available").click()
    await expect(agent.locator("#my-presence")).to_have_text("Available")
    await expect(header(visitor)).to_have_text(ONLINE)
    assert await visitor.evaluate("window.neverReloaded") is True

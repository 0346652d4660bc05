"""The widget in real Chromium, pasted on a page of another origin, against the real services."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from shared.bus import Bus
from shared.settings import Settings
from tests.e2e.widget_support import (
    conversation_id_of,
    host_page,
    snippet_for,
    start_host,
    visitor_id_of,
)
from tests.integration.widget_bus import agent_says, stream_events
from tests.support import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
async def chat(start_service):
    return await start_service("chat")


@pytest.fixture
async def gateway(start_service):
    return await start_service("gateway")


async def open_host(browser, aiohttp_server, gateway, settings: Settings, **page_parts):
    host = await start_host(
        aiohttp_server, {"/": host_page(snippet_for(gateway, settings.write_key), **page_parts)}
    )
    page = await browser.new_page()
    await page.goto(str(host.make_url("/")))
    return page


async def test_a_visitor_chats_with_an_agent_and_text_stays_text(
    browser, aiohttp_server, chat, gateway, bus: Bus, settings: Settings
) -> None:
    page = await open_host(browser, aiohttp_server, gateway, settings)
    await page.get_by_role("button", name="Open chat").click()
    log = page.get_by_role("log")
    box = page.get_by_role("textbox", name="Message")
    markup = '<img src=x onerror="window.pwned=1"><b>bold?</b>'
    await box.fill(markup)
    await box.press("Enter")
    await expect(log).to_contain_text(markup)
    await expect(log.get_by_text("Sent")).to_be_visible()
    assert await box.input_value() == ""

    await box.fill("line one")
    await box.press("Shift+Enter")
    await box.type("line two")
    assert await box.input_value() == "line one\nline two"
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(log).to_contain_text("line one\nline two")

    visitor_id = await visitor_id_of(page)
    cid = await conversation_id_of(bus, visitor_id)
    await agent_says(
        bus,
        cid,
        "Hi! See https://example.com/help or javascript:alert(1) <script>x</script>",
        "a-1",
    )
    await expect(log).to_contain_text("Hi! See")
    await expect(log).to_contain_text("javascript:alert(1) <script>x</script>")
    await expect(log).to_contain_text("Ann")
    link = log.get_by_role("link")
    await expect(link).to_have_count(1)
    await expect(link).to_have_attribute("href", "https://example.com/help")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    # nothing the visitor or agent wrote became markup
    assert await page.evaluate("window.pwned") is None
    assert await log.locator("img, b, script").count() == 0

    # history comes back on the next page load
    await page.reload()
    await page.get_by_role("log").wait_for(state="attached")
    if not await page.get_by_role("log").is_visible():
        await page.get_by_role("button", name="Open chat").click()
    await expect(page.get_by_role("log")).to_contain_text("Hi! See")
    await expect(page.get_by_role("log")).to_contain_text(markup)


async def test_unread_badge_typing_and_read_receipts(
    browser, aiohttp_server, chat, gateway, bus: Bus, settings: Settings
) -> None:
    from tests.integration.chat_support import Frames

    page = await open_host(browser, aiohttp_server, gateway, settings)
    await page.get_by_role("button", name="Open chat").click()
    box = page.get_by_role("textbox", name="Message")
    await box.fill("anyone?")
    await box.press("Enter")
    await expect(page.get_by_role("log").get_by_text("Sent")).to_be_visible()
    cid = await conversation_id_of(bus, await visitor_id_of(page))

    await bus.publish(
        bus.subjects.request("chat", "agent.typing"),
        {
            "workspace_id": "default",
            "conversation_id": cid,
            "agent": {"id": "agent-ann", "name": "Ann", "avatar": None},
            "typing": True,
        },
    )
    await expect(page.get_by_text("Ann is typing…")).to_be_visible()

    agents = await Frames.on(bus, bus.subjects.live_agents("default"))
    await page.evaluate(
        """window.seen = {unread: [], message: []};
        parley.on('unread', n => window.seen.unread.push(n));
        parley.on('message', m => window.seen.message.push(m.text));"""
    )
    await page.get_by_role("button", name="Close chat").click()
    await agent_says(bus, cid, "Here I am", "a-1")
    launcher = page.get_by_role("button", name="Open chat")
    await expect(launcher).to_contain_text("1")
    await expect(page.get_by_text("Ann is typing…")).to_have_count(0)
    seen = await page.evaluate("window.seen")
    assert seen["message"] == ["Here I am"]
    assert seen["unread"][-1] == 1
    await launcher.click()
    await expect(page.get_by_role("log")).to_contain_text("Here I am")
    assert (await page.evaluate("window.seen.unread"))[-1] == 0
    await agents.wait_for(lambda f: f["type"] == "visitor.read" and f["seq"] == 2)

    await bus.request(
        bus.subjects.request("chat", "conversation.read"),
        {"workspace_id": "default", "conversation_id": cid, "agent_id": "agent-ann", "seq": 2},
    )
    await expect(page.get_by_role("log").get_by_text("Seen")).to_be_visible()

    # the receipt survives a reload: the history says how far the agent has read
    await page.reload()
    log = page.get_by_role("log")
    await log.wait_for(state="attached")
    if not await log.is_visible():
        await page.get_by_role("button", name="Open chat").click()
    await expect(log).to_contain_text("anyone?")
    await expect(log.get_by_text("Seen")).to_be_visible()
    await expect(log.get_by_text("Sent", exact=True)).to_have_count(0)


async def test_the_queue_stub_replays_calls_made_before_the_script_loaded(
    browser, aiohttp_server, chat, gateway, bus: Bus, settings: Settings
) -> None:
    calls = """
      window.readyFired = 0;
      parley.on('ready', function () { window.readyFired += 1; });
      parley.identify('user-77', {plan: 'pro'});
      parley.track('Viewed pricing', {source: 'stub'});
      parley.open();
    """
    page = await open_host(browser, aiohttp_server, gateway, settings, after=calls, copies=2)
    await expect(page.get_by_role("log")).to_be_visible()  # parley.open() was replayed
    await eventually(lambda: _truthy(page.evaluate("window.readyFired === 1")))
    assert await page.locator("#parley-widget").count() == 1  # the second snippet is harmless

    async def arrived() -> bool:
        return bool(await stream_events(bus, "track"))

    await eventually(arrived)
    identify = await stream_events(bus, "identify")
    track = await stream_events(bus, "track")
    pages = await stream_events(bus, "page")
    distinct = (await page.evaluate("JSON.parse(localStorage.getItem('parley_visitor'))"))[
        "distinct_id"
    ]
    assert [(e["user_id"], e["anonymous_id"], e["traits"]) for e in identify] == [
        ("user-77", distinct, {"plan": "pro"})
    ]
    assert [(e["event"], e["user_id"]) for e in track] == [("Viewed pricing", "user-77")]
    assert len(pages) == 1 and pages[0]["properties"]["url"].endswith("/")

    # single-page navigation records a page view too
    await page.evaluate("history.pushState({}, '', '/pricing')")

    async def navigated() -> bool:
        return len(await stream_events(bus, "page")) == 2

    await eventually(navigated)


async def _truthy(awaitable) -> bool:
    return bool(await awaitable)


async def test_no_agent_online_asks_for_an_email_right_away(
    browser, aiohttp_server, chat, gateway, bus: Bus, settings: Settings
) -> None:
    page = await open_host(browser, aiohttp_server, gateway, settings)
    await page.get_by_role("button", name="Open chat").click()
    box = page.get_by_role("textbox", name="Message")
    await box.fill("Hello?")
    await box.press("Enter")
    email = page.get_by_role("textbox", name="Email")
    await expect(email).to_be_visible()
    await expect(page.get_by_text("No one is here right now. We'll reply by email")).to_be_visible()
    await email.fill("not an email")
    await page.get_by_role("button", name="Notify me").click()
    await expect(page.get_by_role("alert")).to_contain_text("valid email")
    await email.fill("Sally@Example.com")
    await page.get_by_role("button", name="Notify me").click()
    await expect(email).to_be_hidden()
    # the widget keeps its promise to the visitor, in their words, not the agents' line
    await expect(page.get_by_text("We\u2019ll email you at sally@example.com")).to_be_visible()
    await expect(page.get_by_role("log")).not_to_contain_text("left their email")

    async def recorded() -> bool:
        return bool(await stream_events(bus, "email"))

    await eventually(recorded)
    events = await stream_events(bus, "email")
    assert events[0]["email"] == "sally@example.com"
    assert events[0]["source"] == "widget"


async def test_a_panel_left_open_stays_open_on_the_next_page_without_taking_the_focus(
    browser, aiohttp_server, chat, gateway, settings: Settings
) -> None:
    search = """
      var box = document.createElement('input');
      box.id = 'search'; box.setAttribute('aria-label', 'Search the shop');
      document.body.prepend(box); box.focus();
    """
    page = await open_host(browser, aiohttp_server, gateway, settings, after=search)
    await page.get_by_role("button", name="Open chat").click()
    await expect(page.get_by_role("textbox", name="Message")).to_be_focused()

    await page.reload()
    await expect(page.get_by_role("log")).to_be_visible()  # the visitor left it open
    await expect(page.get_by_role("button", name="Hide chat")).to_be_visible()
    await expect(page.get_by_role("textbox", name="Search the shop")).to_be_focused()

    # logging out (reset) closes it for the next person, still leaving the focus alone
    await page.evaluate("parley.reset()")
    await expect(page.get_by_role("button", name="Open chat")).to_be_visible()
    await expect(page.get_by_role("log")).to_be_hidden()
    await expect(page.get_by_role("textbox", name="Search the shop")).to_be_focused()

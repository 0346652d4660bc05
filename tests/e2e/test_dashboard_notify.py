"""Agents are told of a visitor message nobody answered, in real Chromium against the real
dashboard and chat: a browser notification, the unread count in the tab title, an optional
sound, each the agent's own setting; the browser's permission is asked on a click."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from shared.bus import Bus
from tests.e2e.test_dashboard_live import signed_in_page
from tests.integration.chat_support import conversation_of, visitor_says
from tests.integration.widget_bus import agent_says
from tests.support import eventually

pytestmark = pytest.mark.e2e

# what the page's Notification constructor and Web Audio are asked to do, kept for the test
RECORDER = """
window.__notes = [];
window.__chimes = 0;
if (window.Notification) {
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notes.push({ title: title, body: options && options.body, tag: options && options.tag });
    }
  };
}
const RealAudio = window.AudioContext;
window.AudioContext = class extends RealAudio {
  createOscillator() {
    const tone = super.createOscillator();
    const start = tone.start.bind(tone);
    tone.start = (...args) => { window.__chimes += 1; return start(...args); };
    return tone;
  }
};
"""

# a browser that has not decided yet: permission "default" until the agent is asked
UNDECIDED = """
window.__asked = 0;
window.Notification = class {
  static permission = sessionStorage.getItem("decided") || "default";
  static requestPermission() {
    window.__asked += 1;
    sessionStorage.setItem("decided", "granted");  // the browser remembers the answer
    window.Notification.permission = "granted";
    return Promise.resolve("granted");
  }
};
"""


@pytest.fixture
async def dashboard(start_service) -> str:
    await start_service("chat")
    server = await start_service("dashboard")
    return str(server.make_url("")).rstrip("/")


async def notes(page: Page) -> list[dict[str, Any]]:
    return await page.evaluate("window.__notes")


async def until(page: Page, condition: str) -> None:
    """Wait for a JS condition (polled from outside: the dashboard's CSP forbids eval)."""

    async def holds() -> bool:
        return bool(await page.evaluate(condition))

    await eventually(holds)


async def test_an_unanswered_visitor_message_notifies_and_counts_in_the_title(
    dashboard, browser, bus: Bus
) -> None:
    page = await signed_in_page(browser, dashboard, RECORDER, permissions=["notifications"])
    title = await page.title()
    assert not title.startswith("(")

    await visitor_says(bus, "v-sally", "<b>Is anyone there?</b>")
    await expect(page).to_have_title(f"(1) {title}")
    await until(page, "window.__notes.length === 1")
    [note] = await notes(page)
    assert note["body"] == "<b>Is anyone there?</b>"  # plain text, as typed
    await visitor_says(bus, "v-sally", "Hello??")
    await expect(page).to_have_title(f"(2) {title}")
    cid = (await conversation_of(bus, "v-sally", messages=2))["conversation_id"]

    # an agent's answer: nobody is waiting any more
    await agent_says(bus, cid, "Hi Sally, Ann here", "a-1")
    await expect(page).to_have_title(title)

    # the agent turns the notification and the title off, and the sound on, for themselves
    await page.get_by_role("link", name="Notifications").click()
    await page.get_by_label("Show a browser notification").uncheck()
    await page.get_by_label("Show the unread count in the tab title").uncheck()
    await page.get_by_label("Play a sound").check()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    await expect(page.get_by_label("Play a sound")).to_be_checked()
    await expect(page.get_by_label("Show a browser notification")).not_to_be_checked()
    await page.goto("/inbox")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    inbox_title = await page.title()
    await page.locator("main").click()  # the browser lets a sound play after a gesture
    await visitor_says(bus, "v-bob", "Bob here")
    await until(page, "window.__chimes === 1")
    assert await notes(page) == []
    assert await page.title() == inbox_title


async def test_nothing_for_a_conversation_the_agent_is_reading(
    dashboard, browser, bus: Bus
) -> None:
    page = await signed_in_page(browser, dashboard, RECORDER, permissions=["notifications"])
    await visitor_says(bus, "v-ann", "first")
    cid = (await conversation_of(bus, "v-ann"))["conversation_id"]
    await until(page, "window.__notes.length === 1")
    await page.goto(f"/conversations/{cid}")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    title = await page.title()
    await visitor_says(bus, "v-ann", "second, while she reads")
    await expect(page.locator("#messages")).to_contain_text("second, while she reads")
    await visitor_says(bus, "v-other", "another conversation")
    other = (await conversation_of(bus, "v-other"))["conversation_id"]
    await until(page, "window.__notes.length === 1")  # (this page's own record)
    await expect(page).to_have_title(f"(1) {title}")  # only the other one counts
    assert [(n["tag"], n["body"]) for n in await notes(page)] == [
        (f"parley-{other}", "another conversation")
    ]


async def test_the_permission_is_asked_only_when_the_agent_clicks(dashboard, browser) -> None:
    page = await signed_in_page(browser, dashboard, UNDECIDED)
    bar = page.get_by_role("region", name="Browser notifications")
    await expect(bar).to_be_visible()
    assert await page.evaluate("window.__asked") == 0  # never on page load
    await bar.get_by_role("button", name="Turn on notifications").click()
    assert await page.evaluate("window.__asked") == 1
    await expect(bar).to_be_hidden()
    await page.reload()
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(bar).to_be_hidden()  # granted now: nothing to ask

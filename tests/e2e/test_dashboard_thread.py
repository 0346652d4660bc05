"""The conversation page in real Chromium: older messages load as the agent scrolls up;
activity lines arrive live and stay in the thread."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from shared.bus import Bus
from tests.e2e.test_dashboard_live import Identity, signed_in_page
from tests.integration.chat_support import ask, conversation_of, visitor_says
from tests.support import eventually

pytestmark = pytest.mark.e2e
THREAD = 250


@pytest.fixture
async def dashboard(start_service):
    await start_service("chat")
    server = await start_service("dashboard")
    return str(server.make_url("")).rstrip("/")


async def long_thread(bus: Bus, visitor_id: str, size: int) -> str:
    """A conversation of `size` messages: the visitor's first, then the agent's answers."""
    await visitor_says(bus, visitor_id, "message 1")
    cid = str((await conversation_of(bus, visitor_id))["conversation_id"])
    agent = {"id": "a-test", "name": "Ann", "avatar": None}
    for n in range(2, size + 1):
        await ask(
            bus,
            "agent.send",
            conversation_id=cid,
            agent=agent,
            client_msg_id=f"c-{n}",
            text=f"message {n}",
        )

    async def folded() -> bool:
        got = await ask(bus, "conversation.get", conversation_id=cid, limit=1)
        return bool(got["conversation"]["last_seq"] >= size)

    await eventually(folded)
    return cid


async def seqs(page: Page) -> list[int]:
    return list(
        await page.eval_on_selector_all(
            "#messages li[data-seq]", "els => els.map(e => Number(e.dataset.seq))"
        )
    )


async def scroll_to_top(page: Page) -> None:
    await page.eval_on_selector("#thread-scroll", "el => { el.scrollTop = 0; }")


async def test_older_messages_load_on_scroll_keeping_place_and_no_copies(
    dashboard, browser, bus: Bus
) -> None:
    await Identity(bus, "d-long").start()
    cid = await long_thread(bus, "d-long", THREAD)
    page = await signed_in_page(browser, dashboard)
    await page.goto(f"/conversations/{cid}")
    await expect(page.locator("#messages li.msg")).to_have_count(100)
    await expect(page.locator("#older")).to_be_attached()
    # the page opens at the bottom: nothing older loads until the agent scrolls up
    await page.wait_for_timeout(300)
    assert len(await seqs(page)) == 100

    # a message arriving live while the agent reads back is shown once
    await visitor_says(bus, "d-long", "still there?")
    await expect(page.locator("#messages li.msg").last).to_contain_text("still there?")

    # scrolling up loads a page; the message the agent was looking at stays in view
    oldest = (await seqs(page))[0]
    first = page.locator(f'#messages li[data-seq="{oldest}"]')
    await scroll_to_top(page)
    await expect(page.locator("#messages li.msg")).to_have_count(151)
    box = await first.bounding_box()
    view = await page.locator("#thread-scroll").bounding_box()
    assert box is not None and view is not None
    assert box["y"] >= view["y"], "the thread jumped: the message read is above the view"
    assert box["y"] <= view["y"] + view["height"], "the thread jumped below the message"

    for count in (201, THREAD + 1):
        await scroll_to_top(page)
        await expect(page.locator("#messages li.msg")).to_have_count(count)
    await expect(page.locator("#older")).to_have_count(0)  # the start: nothing more to ask

    shown = await seqs(page)
    assert shown == sorted(set(shown)), "messages out of order or shown twice"
    assert shown[0] == 1 and len(shown) == THREAD + 1
    texts = await page.locator("#messages li.msg .msg-text").all_inner_texts()
    assert texts[:3] == ["message 1", "message 2", "message 3"]
    assert texts[-1] == "still there?"


async def test_older_page_endpoint_checks_its_input(dashboard, browser, bus: Bus) -> None:
    await Identity(bus, "d-short").start()
    cid = await long_thread(bus, "d-short", 5)
    page = await signed_in_page(browser, dashboard)
    base = f"/api/conversations/{cid}/messages"
    for bad in ("-1", "abc", "9" * 20):
        response = await page.request.get(f"{base}?before_seq={bad}")
        assert response.status == 400, bad
    response = await page.request.get(f"{base}?before_seq=4")
    body = await response.json()
    assert [m["seq"] for m in body["messages"]] == [1, 2, 3]
    assert body["has_more"] is False
    assert all(m["conversation_id"] == cid for m in body["messages"])


async def test_an_activity_line_appears_live_and_stays_after_a_reload(
    dashboard, browser, bus: Bus
) -> None:
    await Identity(bus, "d-act").start()
    cid = await long_thread(bus, "d-act", 2)
    page = await signed_in_page(browser, dashboard)
    await page.goto(f"/conversations/{cid}")
    await expect(page.locator("#messages li.msg")).to_have_count(2)

    # a teammate resolves it elsewhere: the line appears without a reload, after the messages
    await ask(
        bus, "conversation.update", conversation_id=cid, status="resolved",
        agent_id="a-bob", agent_name="Bob <b>",
    )  # fmt: skip
    line = page.locator("#messages li.msg-activity")
    await expect(line).to_have_count(1)
    await expect(line.locator(".activity-text")).to_have_text("Bob <b> resolved this")
    await expect(page.locator("#messages li.msg").last).to_have_class("msg msg-activity")

    # the page renders the same line from the server
    await page.reload()
    await expect(line.locator(".activity-text")).to_have_text("Bob <b> resolved this")
    await expect(line.locator("time")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    assert await line.get_attribute("data-activity") == "resolved"


async def test_the_persons_earlier_conversation_expands_inline(
    dashboard, browser, bus: Bus
) -> None:
    await Identity(bus, "d-same").start()  # one person, two devices (visitors)
    await visitor_says(bus, "v-laptop", "old question <i>", distinct_id="d-same")
    old = (await conversation_of(bus, "v-laptop"))["conversation_id"]
    await visitor_says(bus, "v-phone", "new question", distinct_id="d-same")
    cid = (await conversation_of(bus, "v-phone"))["conversation_id"]
    page = await signed_in_page(browser, dashboard)
    await page.goto(f"/conversations/{cid}")
    previous = page.locator("#sidebar ul.previous li")
    await expect(previous).to_have_count(1)
    await expect(previous.locator("a")).to_have_attribute("href", f"/conversations/{old}")
    button = previous.get_by_role("button", name="Show here")
    await button.click()
    thread = previous.locator("ol.previous-thread")
    await expect(thread).to_be_visible()
    await expect(thread.locator("li")).to_have_text(["Visitor: old question <i>"])
    await page.get_by_role("button", name="Hide").click()
    await expect(thread).to_be_hidden()

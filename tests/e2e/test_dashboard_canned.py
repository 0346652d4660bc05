"""Canned replies in the agent's composer, in real Chromium: `/ship` becomes its text."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from shared.bus import Bus
from tests.e2e.test_dashboard_live import Identity, signed_in_page
from tests.integration.chat_support import ask, conversation_of, visitor_says
from tests.integration.dashboard_support import signed_in_client

pytestmark = pytest.mark.e2e
SHIP = "Your order ships within 2 days."
SHIP_UK = "UK orders ship from Leeds: allow 3 days."


async def add_canned(page: Page, shortcut: str, text: str) -> None:
    await page.goto("/settings#canned")
    await page.get_by_label("Shortcut", exact=True).fill(shortcut)
    await page.locator("#canned-text").fill(text)
    await page.get_by_role("button", name="Add canned reply").click()
    await expect(page.locator("#canned")).to_contain_text("/" + shortcut)


async def sent_texts(bus: Bus, visitor_id: str) -> list[str]:
    history = await ask(bus, "history", visitor_id=visitor_id)
    return [m["text"] for m in history["messages"] if m["author"]["kind"] == "agent"]


async def test_a_shortcut_expands_from_the_list_or_on_send_and_an_unknown_one_stays(
    start_service, browser, bus: Bus
) -> None:
    await start_service("chat")
    server = await start_service("dashboard")
    page = await signed_in_page(browser, str(server.make_url("")).rstrip("/"))
    await add_canned(page, "ship", SHIP)
    await add_canned(page, "ship-uk", SHIP_UK)
    await visitor_says(bus, "d-canned", "where is my parcel?")
    cid = (await conversation_of(bus, "d-canned"))["conversation_id"]
    await page.goto(f"/conversations/{cid}")
    box = page.get_by_role("textbox", name="Reply")
    agent_msgs = page.locator("#messages .msg-agent:not(.is-pending) .msg-text")

    # "/sh" lists both; Tab takes the highlighted one in place of "/sh"
    await box.fill("Hello! ")
    await box.press_sequentially("/sh")
    options = page.get_by_role("listbox", name="Canned replies").get_by_role("option")
    await expect(options).to_have_count(2)
    await expect(options.first).to_have_attribute("aria-selected", "true")
    await box.press("Tab")
    await expect(box).to_have_value("Hello! " + SHIP)
    await expect(page.get_by_role("listbox", name="Canned replies")).to_be_hidden()
    await box.press("Enter")
    await expect(agent_msgs).to_have_count(1)
    await expect(agent_msgs.first).to_have_text("Hello! " + SHIP)

    # arrows move through the list; Enter picks (it does not send "/ship")
    await box.press_sequentially("/ship")
    await expect(options).to_have_count(2)
    await box.press("ArrowDown")
    await expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    await box.press("Enter")
    await expect(box).to_have_value(SHIP_UK)
    await box.press("Enter")
    await expect(agent_msgs).to_have_count(2)

    # exactly a known shortcut, sent with the button: the text goes out, not "/ship"
    await box.fill("/ship")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(agent_msgs).to_have_count(3)
    await expect(agent_msgs.nth(2)).to_have_text(SHIP)

    # a word inside a shortcut finds it too
    await box.press_sequentially("/uk")
    await expect(options).to_have_count(1)
    await expect(options.first).to_contain_text("/ship-uk")
    await box.press("Escape")
    await box.fill("")

    # no such shortcut: sent as written
    await box.press_sequentially("/shipping")
    await expect(page.get_by_role("listbox", name="Canned replies")).to_be_hidden()
    await box.press("Enter")
    await expect(agent_msgs).to_have_count(4)
    assert await sent_texts(bus, "d-canned") == ["Hello! " + SHIP, SHIP_UK, SHIP, "/shipping"]


async def test_the_reply_form_without_scripts_expands_a_shortcut_too(
    start_service, aiohttp_client, bus: Bus
) -> None:
    admin = await signed_in_client(start_service, aiohttp_client, "chat")
    await admin.post(
        "/settings/canned", data={"shortcut": "ship", "text": SHIP, "csrf": admin.csrf}
    )
    await visitor_says(bus, "d-nojs", "where is my parcel?")
    cid = (await conversation_of(bus, "d-nojs"))["conversation_id"]
    for text in (" /SHIP ", "/ship now"):
        sent = await admin.post(
            f"/conversations/{cid}/reply",
            data={"text": text, "csrf": admin.csrf},
            allow_redirects=False,
        )
        assert sent.status == 303
    assert await sent_texts(bus, "d-nojs") == [SHIP, "/ship now"]


HELLO = "Hi {{first_name|there}}, we will write to {{ email }}. {{agent_name}} {{unknown}}"


async def test_placeholders_are_filled_from_the_profile_as_text_and_follow_it_live(
    start_service, browser, bus: Bus
) -> None:
    identity = await Identity(bus, "d-fill").start()
    await start_service("chat")
    server = await start_service("dashboard")
    page = await signed_in_page(browser, str(server.make_url("")).rstrip("/"))
    await add_canned(page, "hello", HELLO)
    await visitor_says(bus, "d-fill", "hi")
    cid = (await conversation_of(bus, "d-fill"))["conversation_id"]
    await page.goto(f"/conversations/{cid}")
    box = page.get_by_role("textbox", name="Reply")

    # no name yet: the fallback; no email: empty; a placeholder we do not know stays
    await box.press_sequentially("/hel")
    await box.press("Tab")
    await expect(box).to_have_value("Hi there, we will write to . Admin {{unknown}}")

    # the visitor becomes a contact, with markup in her name: it arrives live, as text
    await identity.promote(name="<b>Sal</b> Ride", email="sal@example.com", stage="contact")
    await expect(page.locator("#sidebar [data-field=name]")).to_have_text("<b>Sal</b> Ride")
    await box.fill("")
    await box.press_sequentially("/hello")
    await box.press("Enter")  # picks from the list
    expected = "Hi <b>Sal</b>, we will write to sal@example.com. Admin {{unknown}}"
    await expect(box).to_have_value(expected)
    await box.press("Enter")  # sends
    sent = page.locator("#messages .msg-agent:not(.is-pending) .msg-text")
    await expect(sent).to_have_text(expected)
    assert await sent.locator("b").count() == 0
    assert await sent_texts(bus, "d-fill") == [expected]


async def test_the_reply_form_without_scripts_fills_placeholders_too(
    start_service, aiohttp_client, bus: Bus
) -> None:
    identity = await Identity(bus, "d-nojs-fill").start()
    identity.profile["name"] = "Sally Ride"
    admin = await signed_in_client(start_service, aiohttp_client, "chat")
    await admin.post(
        "/settings/canned",
        data={
            "shortcut": "hello",
            "text": "Hi {{first_name}}, {{agent_name}} here",
            "csrf": admin.csrf,
        },
    )
    await visitor_says(bus, "d-nojs-fill", "hi")
    cid = (await conversation_of(bus, "d-nojs-fill"))["conversation_id"]
    sent = await admin.post(
        f"/conversations/{cid}/reply",
        data={"text": "/hello", "csrf": admin.csrf},
        allow_redirects=False,
    )
    assert sent.status == 303
    assert await sent_texts(bus, "d-nojs-fill") == ["Hi Sally, Admin here"]

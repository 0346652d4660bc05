"""The widget's email promise in real Chromium: it says where it will write, lets the visitor
change it, and does not ask a member whose profile already has an address."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from shared.bus import Bus
from tests.e2e.test_dashboard_loop import demo_account, open_widget, visitor_writes
from tests.integration.widget_bus import stream_events
from tests.support import eventually

pytestmark = pytest.mark.e2e
PROMISE = "We\u2019ll email you at {} when we reply \u2014 not you? change it"


async def demo_page(browser, gateway) -> Page:
    context = await browser.new_context(base_url=str(gateway.make_url("")).rstrip("/"))
    page = await context.new_page()
    await page.goto("/demo/")
    return page


async def test_an_email_in_a_message_is_confirmed_and_change_it_replaces_it(
    browser, chat, gateway, bus: Bus
) -> None:
    page = await demo_page(browser, gateway)
    await page.get_by_role("button", name="Open chat").click()
    await visitor_writes(page, "Hi, I'm Sally: sally@example.com")
    promise = page.get_by_text(PROMISE.format("sally@example.com"))
    await expect(promise).to_be_visible()
    ask = page.get_by_role("textbox", name="Email")
    await expect(ask).to_be_hidden()  # no agent is online, yet nobody asks again

    # the promise survives a reload (the gateway says it again at hello)
    await page.evaluate(
        "localStorage.setItem('parley_visitor', JSON.stringify("
        "Object.assign(JSON.parse(localStorage.getItem('parley_visitor')),"
        " {email: null})))"
    )
    await page.reload()
    await open_widget(page)
    await expect(promise).to_be_visible()

    await page.get_by_role("button", name="change it").click()
    await expect(promise).to_be_hidden()
    await expect(ask).to_have_value("sally@example.com")
    await ask.fill("sally@work.example")
    await page.get_by_role("button", name="Notify me").click()
    await expect(page.get_by_text(PROMISE.format("sally@work.example"))).to_be_visible()
    await expect(ask).to_be_hidden()

    async def both_recorded() -> bool:
        emails = [e["email"] for e in await stream_events(bus, "email")]
        return emails == ["sally@example.com", "sally@work.example"]

    await eventually(both_recorded)
    await expect(page.get_by_role("log")).not_to_contain_text("left their email")


async def test_a_member_whose_profile_has_an_email_is_not_asked(
    browser, chat, gateway, start_service
) -> None:
    await start_service("identity")
    page = await demo_page(browser, gateway)
    # logging in calls parley.identify(userId, {email}): the profile has her address
    await demo_account(page, "signup", "sally@example.com")
    await demo_account(page, "login", "sally@example.com")
    await page.get_by_role("button", name="Open chat").click()
    await visitor_writes(page, "Where is my invoice?")
    await expect(page.get_by_text(PROMISE.format("sally@example.com"))).to_be_visible()
    await expect(page.get_by_role("textbox", name="Email")).to_be_hidden()
    await expect(page.get_by_text("No one is here right now")).to_be_hidden()

    # on a later page, with the widget's memory of it gone, the profile still answers
    await page.evaluate(
        "localStorage.setItem('parley_visitor', JSON.stringify("
        "Object.assign(JSON.parse(localStorage.getItem('parley_visitor')),"
        " {email: null})))"
    )
    await page.goto("/demo/pricing")
    await open_widget(page)
    await expect(page.get_by_text(PROMISE.format("sally@example.com"))).to_be_visible()
    await expect(page.get_by_role("textbox", name="Email")).to_be_hidden()


async def test_an_identify_with_an_email_answers_a_prompt_already_showing(
    browser, chat, gateway
) -> None:
    page = await demo_page(browser, gateway)
    await page.get_by_role("button", name="Open chat").click()
    await visitor_writes(page, "Hello?")
    ask = page.get_by_role("textbox", name="Email")
    await expect(ask).to_be_visible()  # nobody is online: asked at once
    await page.evaluate("parley.identify('u-sam', {email: 'sam@example.com'})")
    await expect(page.get_by_text(PROMISE.format("sam@example.com"))).to_be_visible()
    await expect(ask).to_be_hidden()

"""Sally's journey on the demo site: chat, sign up (alias), log in (identify), log out (reset)."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import expect

from services.gateway.demo.views import user_id_for
from shared.bus import Bus
from shared.security import user_hash
from shared.settings import Settings
from tests.integration.widget_bus import stream_events
from tests.support import eventually

pytestmark = pytest.mark.e2e


async def test_sallys_journey_on_the_demo_site(
    browser, start_service, bus: Bus, settings: Settings
) -> None:
    strict = settings.with_changes(enforce_identity_verification=True)
    await start_service("chat", settings=strict)
    gateway = await start_service("gateway", settings=strict)
    page = await browser.new_page()
    console_errors: list[str] = []  # a newcomer opening the dev tools sees none
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    await page.goto(str(gateway.make_url("/demo/")))
    await page.get_by_role("button", name="Open chat").click()
    box = page.get_by_role("textbox", name="Message")
    await box.fill("Do you have a team plan?")
    await box.press("Enter")
    await expect(page.get_by_role("log").get_by_text("Sent")).to_be_visible()
    first = await _stored(page)

    await page.get_by_role("banner").get_by_role("link", name="Sign up").click()
    await page.get_by_label("Email").first.fill("sally@example.com")
    await page.get_by_label("Password").fill("hunter22")
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_text("Welcome aboard")).to_be_visible()
    uid = user_id_for("sally@example.com")

    async def aliased() -> bool:
        return bool(await stream_events(bus, "alias"))

    await eventually(aliased)
    alias = (await stream_events(bus, "alias"))[0]
    assert (alias["user_id"], alias["previous_id"]) == (uid, first["distinct_id"])
    assert alias["trusted"] is True  # verified with the server-side user_hash

    await page.get_by_role("banner").get_by_role("link", name="Log out").click()
    await expect(page.get_by_text("You're logged out")).to_be_visible()
    await page.get_by_role("banner").get_by_role("link", name="Log in").click()
    await page.get_by_label("Email").first.fill("sally@example.com")
    await page.get_by_label("Password").fill("hunter22")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_text("Welcome back")).to_be_visible()

    async def identified() -> bool:
        return bool(await stream_events(bus, "identify"))

    await eventually(identified)
    identify = (await stream_events(bus, "identify"))[0]
    assert identify["user_id"] == uid
    assert identify["traits"] == {"email": "sally@example.com"}
    assert identify["anonymous_id"] != first["distinct_id"]  # logged out: a new visitor
    assert user_hash(strict.identity_secret, uid)  # the page got it from the server

    # the account switch on this browser does not inherit Sally's first chat
    await page.get_by_role("banner").get_by_role("link", name="Log out").click()
    await expect(page.get_by_text("You're logged out")).to_be_visible()
    after = await _stored(page)
    assert after["visitor_id"] not in (first["visitor_id"], identify["anonymous_id"])
    if not await page.get_by_role("log").is_visible():
        await page.get_by_role("button", name="Open chat").click()
    await expect(page.get_by_role("log")).not_to_contain_text("team plan")
    assert console_errors == []


async def _stored(page) -> dict:
    async def ready() -> bool:
        raw = await page.evaluate("localStorage.getItem('parley_visitor')")
        return bool(raw and json.loads(raw).get("visitor_id"))

    await eventually(ready)
    return json.loads(await page.evaluate("localStorage.getItem('parley_visitor')"))

"""A verified member's second device shows their history in the widget, in real Chromium."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from playwright.async_api import expect

from shared.security import user_hash
from shared.settings import Settings
from tests.e2e.widget_support import host_page, snippet_for, start_host

pytestmark = pytest.mark.e2e


async def device(browser, aiohttp_server, gateway, settings: Settings, identify: str):
    """A new browser context (its own storage: another device) on a page that identifies."""
    page_html = host_page(snippet_for(gateway, settings.write_key), after=identify)
    host = await start_host(aiohttp_server, {"/": page_html})
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(str(host.make_url("/")))
    return page


async def test_a_verified_second_device_sees_and_continues_its_history(
    browser, aiohttp_server, chat, gateway, start_service, settings: Settings
) -> None:
    await start_service("identity")
    hashed = user_hash(settings.identity_secret, "u-sally")
    laptop = await device(
        browser,
        aiohttp_server,
        gateway,
        settings,
        f"parley.identify('u-sally', {{}}, {{ userHash: {json.dumps(hashed)} }});",
    )
    await laptop.get_by_role("button", name="Open chat").click()
    box = laptop.get_by_role("textbox", name="Message")
    await box.fill("my invoice is wrong")
    await box.press("Enter")
    await expect(laptop.get_by_role("log").get_by_text("Sent")).to_be_visible()

    now = int(time.time())
    token = jwt.encode(
        {"sub": "u-sally", "iat": now, "exp": now + 600}, settings.identity_secret, "HS256"
    )
    phone = await device(
        browser,
        aiohttp_server,
        gateway,
        settings,
        f"parley.identify('u-sally', {{}}, {{ identityToken: {json.dumps(token)} }});",
    )
    await phone.get_by_role("button", name="Open chat").click()
    past = phone.get_by_role("navigation", name="Your conversations")
    # the list is asked for once verified; identity may still be folding the laptop's
    # identify in, so a reload asks again until it is there
    for _ in range(20):
        if await past.get_by_role("button").count():
            break
        await phone.wait_for_timeout(500)
        await phone.reload()  # the panel opens again by itself (it was open)
        await expect(phone.get_by_role("button", name="Hide chat")).to_be_visible()
    await past.get_by_role("button", name="my invoice is wrong").click()
    log = phone.get_by_role("log")
    await expect(log).to_contain_text("my invoice is wrong")
    phone_box = phone.get_by_role("textbox", name="Message")
    await phone_box.fill("it is invoice 42")
    await phone_box.press("Enter")
    await expect(laptop.get_by_role("log")).to_contain_text("it is invoice 42")

    # an unverified device naming the same user sees no list
    claimer = await device(
        browser, aiohttp_server, gateway, settings, "parley.identify('u-sally', {});"
    )
    await claimer.get_by_role("button", name="Open chat").click()
    await claimer.wait_for_timeout(1500)
    await expect(claimer.get_by_role("navigation", name="Your conversations")).to_be_hidden()
    await expect(claimer.get_by_role("log")).not_to_contain_text("my invoice is wrong")


async def test_an_expired_identity_token_is_refused_with_its_reason_in_the_console(
    browser, aiohttp_server, chat, gateway, settings: Settings
) -> None:
    now = int(time.time())
    token = jwt.encode(
        {"sub": "u-sally", "iat": now - 900, "exp": now - 300}, settings.identity_secret, "HS256"
    )
    listen = "parley.on('error', (e) => { window.refused = e; });"
    page = await device(
        browser,
        aiohttp_server,
        gateway,
        settings,
        listen + f"parley.identify('u-sally', {{}}, {{ identityToken: {json.dumps(token)} }});",
    )
    await page.wait_for_function("window.refused !== undefined")
    refused = await page.evaluate("window.refused")
    assert refused == {"code": "token_refused", "message": "the identity token has expired"}
    await page.get_by_role("button", name="Open chat").click()
    await expect(page.get_by_role("navigation", name="Your conversations")).to_be_hidden()

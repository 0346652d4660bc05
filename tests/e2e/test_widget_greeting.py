"""The widget greets: the workspace's greeting, the team with its measured reply time,
message timestamps, the resolved note, the visitor's language and the launcher's look.
Screenshots for docs/widget.md are taken here (docs/img/)."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path

import pytest
from bson import ObjectId
from playwright.async_api import expect

from services.chat.app import CHAT
from shared import clock
from shared.bus import Bus
from shared.settings import Settings
from shared.web import WORKSPACES
from shared.workspaces import DEFAULT_WORKSPACE_ID
from tests.e2e.widget_support import (
    conversation_id_of,
    host_page,
    snippet_for,
    start_host,
    visitor_id_of,
)
from tests.integration.widget_bus import agent_says
from tests.support import eventually

pytestmark = pytest.mark.e2e

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
GREETING = "Hi! We're the Acme team. Ask us anything."
PHONE = {"width": 390, "height": 780}


@pytest.fixture
async def chat(start_service):
    return await start_service("chat")


@pytest.fixture
async def gateway(start_service):
    return await start_service("gateway")


async def messenger(gateway, **changes) -> None:
    """Edit the workspace's Messenger settings (as the dashboard does) and wait for the
    gateway's copy."""
    registry = gateway.app[WORKSPACES]
    ws = registry.get(DEFAULT_WORKSPACE_ID)
    await registry.put(dataclasses.replace(ws, **changes))

    async def seen() -> bool:
        got = registry.get(DEFAULT_WORKSPACE_ID)
        return all(getattr(got, k) == v for k, v in changes.items())

    await eventually(seen)


async def ann_online_replying_in_minutes(chat, bus: Bus) -> None:
    """Ann's heartbeat, and three conversations answered in 2, 3 and 4 minutes."""
    opened = clock.now() - timedelta(hours=2)
    await chat.app[CHAT].store.conversations.insert_many(
        [
            {"_id": str(ObjectId()), "workspace_id": DEFAULT_WORKSPACE_ID,
             "visitor_id": f"v-old-{n}", "status": "resolved", "created_at": opened,
             "first_reply_at": opened + timedelta(minutes=n)}
            for n in (2, 3, 4)
        ]
    )  # fmt: skip
    beat = {"workspace_id": DEFAULT_WORKSPACE_ID, "agent_id": "agent-ann", "name": "Ann"}
    await bus.publish(bus.subjects.request("chat", "agent.presence"), beat)

    async def online() -> bool:
        view = await bus.request(
            bus.subjects.request("chat", "presence.get"), {"workspace_id": DEFAULT_WORKSPACE_ID}
        )
        return view["online_agents"] == 1

    await eventually(online)


async def open_page(browser, aiohttp_server, gateway, settings: Settings, **context):
    host = await start_host(
        aiohttp_server, {"/": host_page(snippet_for(gateway, settings.write_key))}
    )
    ctx = await browser.new_context(**context)
    page = await ctx.new_page()
    await page.goto(str(host.make_url("/")))
    return page


async def test_the_open_panel_greets_shows_the_team_and_times_and_the_resolved_note(
    browser, aiohttp_server, chat, gateway, bus: Bus, settings: Settings
) -> None:
    await messenger(gateway, greeting=GREETING, launcher_color="#ffd400")
    await ann_online_replying_in_minutes(chat, bus)
    page = await open_page(browser, aiohttp_server, gateway, settings, locale="en-US")
    launcher = page.get_by_role("button", name="Open chat")
    # the chosen yellow, with black text (the contrast-safe choice)
    await expect(launcher).to_have_css("background-color", "rgb(255, 212, 0)")
    await expect(launcher).to_have_css("color", "rgb(0, 0, 0)")
    await launcher.click()
    dialog = page.get_by_role("dialog")
    log = page.get_by_role("log")
    await expect(log).to_contain_text(GREETING)
    await expect(dialog).to_contain_text("Ann is online")
    await expect(dialog).to_contain_text("Usually replies in a few minutes")  # median 3 min

    box = page.get_by_role("textbox", name="Message")
    await box.fill("Where is my order?")
    await box.press("Enter")
    cid = await conversation_id_of(bus, await visitor_id_of(page))
    await agent_says(bus, cid, "Let me check.", "a-1")
    await expect(log).to_contain_text("Let me check.")
    stamps = log.locator("time")
    await expect(stamps).to_have_count(2)
    await expect(stamps.nth(1)).to_have_text("now")
    title = await stamps.nth(1).get_attribute("title")
    assert title and re.search(r"\d{1,2}:\d{2}", title), title  # the full time on hover
    assert await stamps.nth(1).get_attribute("datetime")

    await page.screenshot(path=str(IMG / "widget-desktop.png"))

    resolved = log.get_by_text("This conversation was marked resolved")
    await expect(resolved).to_be_hidden()
    await bus.request(
        bus.subjects.request("chat", "conversation.update"),
        {"workspace_id": DEFAULT_WORKSPACE_ID, "conversation_id": cid,
         "agent_id": "agent-ann", "status": "resolved"},
    )  # fmt: skip
    await expect(resolved).to_be_visible()
    await page.reload()  # the note survives a reload (history carries the status)
    await expect(page.get_by_role("log").get_by_text("marked resolved")).to_be_visible()
    await box.fill("One more thing")
    await box.press("Enter")
    await expect(page.get_by_role("log").get_by_text("marked resolved")).to_be_hidden()


async def test_a_french_browser_gets_french_strings_and_the_workspace_overrides(
    browser, aiohttp_server, chat, gateway, settings: Settings
) -> None:
    await messenger(
        gateway,
        greeting=GREETING,  # English: a French visitor gets the French one below instead
        launcher_position="left",
        widget_strings={"fr": {"greeting": "Bonjour de la part d’Acme !"}},
    )
    page = await open_page(
        browser, aiohttp_server, gateway, settings, locale="fr-FR", viewport=PHONE
    )
    launcher = page.get_by_role("button", name="Ouvrir le chat")
    await expect(launcher).to_be_visible()
    box = await launcher.bounding_box()
    assert box and box["x"] < PHONE["width"] / 2, "bottom-left, as set"
    await launcher.click()
    log = page.get_by_role("log", name="Conversation")
    await expect(log).to_contain_text("Bonjour de la part d’Acme !")
    await expect(page.get_by_role("button", name="Envoyer", exact=True)).to_be_visible()
    await expect(page.get_by_role("textbox", name="Message")).to_have_attribute(
        "placeholder", "Écrivez un message…"
    )
    await expect(page.get_by_role("dialog")).to_contain_text("Nous sommes absents")
    await page.get_by_role("textbox", name="Message").fill("Bonjour")
    await page.get_by_role("textbox", name="Message").press("Enter")
    await expect(log.get_by_text("Envoyé")).to_be_visible()
    await expect(log.locator("time").first).to_have_text("à l’instant")
    assert "English" not in await log.inner_text()
    await page.screenshot(path=str(IMG / "widget-phone-fr.png"))


async def test_an_arabic_browser_gets_right_to_left_once_the_workspace_added_strings(
    browser, aiohttp_server, chat, gateway, settings: Settings
) -> None:
    page = await open_page(browser, aiohttp_server, gateway, settings, locale="ar-EG")
    await page.get_by_role("button", name="Open chat").click()  # no Arabic yet: English
    root = page.locator("#parley-widget").locator(".root")
    await expect(root).to_have_attribute("dir", "ltr")
    await messenger(gateway, widget_strings={"ar": {"send": "أرسل", "greeting": "مرحبا!"}})
    await page.reload()
    await expect(page.get_by_role("button", name="أرسل", exact=True)).to_be_visible()
    await expect(root).to_have_attribute("dir", "rtl")
    await expect(root).to_have_attribute("lang", "ar")
    await expect(page.get_by_role("log")).to_contain_text("مرحبا!")

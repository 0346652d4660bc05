"""The widget in real Chromium when its site is misconfigured, and across key rotations."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from playwright.async_api import expect

from shared.bus import Bus
from shared.security import key_id
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
from tests.integration.dashboard_support import signed_in_client
from tests.integration.widget_bus import agent_says
from tests.support import eventually

pytestmark = pytest.mark.e2e

UNAVAILABLE = "Chat isn’t available right now"


class Watched:
    """A page with its console errors and the websockets it opened."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.sockets: list[str] = []
        page.on("console", self._console)
        page.on("websocket", lambda ws: self.sockets.append(ws.url))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def parley_errors(self) -> list[str]:
        return [e for e in self.errors if e.startswith("Parley:")]


async def _watched_host(browser, aiohttp_server, gateway, write_key: str) -> tuple[Watched, Any]:
    host = await start_host(aiohttp_server, {"/": host_page(snippet_for(gateway, write_key))})
    watched = Watched(await browser.new_page())
    await watched.page.goto(str(host.make_url("/")))
    return watched, host


async def _shows_unavailable_without_retrying(watched: Watched) -> None:
    page = watched.page
    await page.get_by_role("button", name="Open chat").click()
    await expect(page.get_by_text(UNAVAILABLE)).to_be_visible()
    await expect(page.get_by_role("textbox", name="Message")).to_be_disabled()
    await expect(page.get_by_role("button", name="Send", exact=True)).to_be_disabled()
    await expect(page.get_by_text("reconnecting")).to_have_count(0)
    # what wakes a waiting reconnect (network back, tab shown) does not retry a refusal,
    # and a backoff (first retry within 0.5 s) would have fired several times by now
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await page.wait_for_timeout(2500)
    assert len(watched.sockets) == 1, watched.sockets
    await expect(page.get_by_text(UNAVAILABLE)).to_be_visible()


async def test_a_page_on_a_disallowed_origin_says_chat_is_unavailable(
    browser, aiohttp_server, start_service, settings: Settings
) -> None:
    strict = settings.with_changes(allowed_origins=("https://shop.example",))
    gateway = await start_service("gateway", settings=strict)
    watched, host = await _watched_host(browser, aiohttp_server, gateway, strict.write_key)
    await _shows_unavailable_without_retrying(watched)
    origin = str(host.make_url("")).rstrip("/")
    (error,) = watched.parley_errors()
    assert f"origin {origin} is not in the workspace's allowed origins" in error
    assert "Dashboard → Settings → Allowed origins" in error


async def test_a_page_with_an_unknown_write_key_says_chat_is_unavailable(
    browser, aiohttp_server, start_service
) -> None:
    gateway = await start_service("gateway")
    watched, _ = await _watched_host(browser, aiohttp_server, gateway, "wk_typo")
    await _shows_unavailable_without_retrying(watched)
    (error,) = watched.parley_errors()
    assert "unknown write key 'wk_typo'" in error and "snippet" in error


@pytest.fixture
async def chat(start_service):
    return await start_service("chat")


async def _say(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    await box.fill(text)
    await box.press("Enter")
    log = page.get_by_role("log")
    await expect(log.locator(".m-visitor", has_text=text).get_by_text("Sent")).to_be_visible(
        timeout=20_000
    )


async def _restart(gateway, start_service, settings: Settings):
    """Stop the gateway and start it again on its port: the widget must reconnect."""
    port = gateway.port
    await gateway.close()
    return await start_service("gateway", settings=settings, port=port)


async def test_the_widget_keeps_working_across_a_write_key_rotation(
    browser, aiohttp_server, aiohttp_client, chat, start_service, bus: Bus, settings: Settings
) -> None:
    admin = await signed_in_client(start_service, aiohttp_client)
    gateway = await start_service("gateway")
    watched, _ = await _watched_host(browser, aiohttp_server, gateway, settings.write_key)
    page = watched.page
    await page.get_by_role("button", name="Open chat").click()
    await _say(page, "before the rotation")
    visitor = await visitor_id_of(page)

    rotate = {"key": "write_key", "csrf": admin.csrf}  # the default grace: 24 hours
    assert (await admin.post("/settings/keys", data=rotate, allow_redirects=False)).status == 303
    rotated = admin.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID)
    assert rotated is not None and rotated.write_key != settings.write_key

    # the same page, still on the old snippet, reconnects to a gateway that has the new key
    gateway = await _restart(gateway, start_service, settings)
    assert gateway.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID).write_key != settings.write_key
    await _say(page, "after the rotation")
    assert await visitor_id_of(page) == visitor
    cid = await conversation_id_of(bus, visitor)
    await agent_says(bus, cid, "still here", "a-rot-1")
    await expect(page.get_by_role("log")).to_contain_text("still here")
    assert len(watched.sockets) == 2 and watched.parley_errors() == []

    # the grace ended early (revoked): the next reconnect is a clear refusal, not an outage
    html = await (await admin.get("/settings")).text()
    retired = html.split('name="retired" value="')[1].split('"')[0]
    revoke = {"retired": retired, "csrf": admin.csrf}
    response = await admin.post("/settings/keys/revoke", data=revoke, allow_redirects=False)
    assert response.status == 303
    gateway = await _restart(gateway, start_service, settings)
    assert gateway.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID).in_grace() == []
    await expect(page.get_by_text(UNAVAILABLE)).to_be_visible(timeout=20_000)
    (error,) = watched.parley_errors()
    assert f"unknown write key '{settings.write_key}'" in error


def _token_kid(raw_store: str) -> str:
    body = json.loads(raw_store)["token"].split(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["kid"]


async def test_a_token_secret_rotation_keeps_the_visitor_and_the_conversation(
    browser, aiohttp_server, chat, start_service, bus: Bus, settings: Settings
) -> None:
    gateway = await start_service("gateway")
    watched, _ = await _watched_host(browser, aiohttp_server, gateway, settings.write_key)
    page = watched.page
    await page.get_by_role("button", name="Open chat").click()
    await _say(page, "my order is late")
    visitor = await visitor_id_of(page)
    cid = await conversation_id_of(bus, visitor)
    await agent_says(bus, cid, "let me check", "a-tok-1")
    await expect(page.get_by_role("log")).to_contain_text("let me check")
    stored = "localStorage.getItem('parley_visitor')"
    assert _token_kid(await page.evaluate(stored)) == key_id(settings.token_secret)

    # the operator sets a new secret and keeps the old one as previous, then restarts
    fresh = "rotated-" + settings.token_secret
    rotated = settings.with_changes(
        token_secret=fresh, token_secret_previous=(settings.token_secret,)
    )
    gateway = await _restart(gateway, start_service, rotated)

    async def re_signed() -> bool:
        return _token_kid(await page.evaluate(stored)) == key_id(fresh)

    await eventually(re_signed, timeout=20)
    assert await visitor_id_of(page) == visitor
    log = page.get_by_role("log")
    await expect(log.locator(".b")).to_have_text(["my order is late", "let me check"])

    # the widget stored the re-signed token: even without the previous secret it is the
    # same visitor, and the conversation goes on where it was
    gateway = await _restart(gateway, start_service, rotated.with_changes(token_secret_previous=()))
    await _say(page, "any news?")
    assert await visitor_id_of(page) == visitor
    assert await conversation_id_of(bus, visitor) == cid
    await expect(log.locator(".b")).to_have_text(["my order is late", "let me check", "any news?"])

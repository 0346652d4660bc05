"""The widget in real Chromium when its site is misconfigured, and across key rotations."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from shared.settings import Settings
from tests.e2e.widget_support import host_page, snippet_for, start_host

pytestmark = pytest.mark.e2e

UNAVAILABLE = "Chat isn’t available right now"


class Watched:
    """A page with its console errors and the websockets it opened."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.sockets: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("websocket", lambda ws: self.sockets.append(ws.url))

    def parley_errors(self) -> list[str]:
        return [e for e in self.errors if e.startswith("Parley:")]


async def _watched_host(browser, aiohttp_server, gateway, write_key: str) -> tuple[Watched, Any]:  # type: ignore[no-untyped-def]
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

"""Issue 14 in real Chromium: an admin opens a merged profile, sees the timeline, undoes
the merge (the confirmation in the page, a POST form with CSRF), and each profile shows
its own conversations again. Real identity, chat and dashboard on the real nats-server
and SecantusDB."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import expect

from shared.bus import Bus
from tests.e2e.test_dashboard_live import signed_in_page
from tests.integration.chat_support import ask, conversation_of, visitor_says
from tests.integration.identity_support import drained, event, publish
from tests.support import eventually

pytestmark = pytest.mark.e2e
WS = "default"


async def settle(bus: Bus, *events) -> None:
    await publish(bus, *events)
    await drained(bus, timeout=30)


async def test_an_admin_unmerges_and_each_profile_shows_its_own_conversations(
    start_service, browser, bus: Bus
) -> None:
    for name in ("identity", "chat"):
        await start_service(name)
    server = await start_service("dashboard")
    base = str(server.make_url("")).rstrip("/")
    tag = uuid.uuid4().hex[:6]
    laptop, phone, user = f"laptop-{tag}", f"phone-{tag}", f"u-{tag}"
    for device in (laptop, phone):
        await settle(bus, event(WS, "page", anonymous_id=device, source="widget", trusted=False))
    for device in (laptop, phone):
        await visitor_says(bus, device, f"<b>hello</b> from my {device.split('-')[0]}")
        await conversation_of(bus, device)
    await settle(bus, event(WS, "identify", user_id=user, anonymous_id=laptop))
    await settle(bus, event(WS, "identify", user_id=user, anonymous_id=phone))
    found = await bus.request(
        bus.subjects.request("identity", "profile.find"), {"workspace_id": WS, "user_id": user}
    )
    [profile] = found["profiles"]
    sid, [mid] = profile["id"], profile["merged_from"]

    async def both_on_survivor() -> bool:
        got = await ask(bus, "conversations.by_profile", profile_id=sid)
        return len(got["conversations"]) == 2

    await eventually(both_on_survivor, timeout=15)

    page = await signed_in_page(browser, base)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    await page.goto(f"/contacts/{sid}")
    merge = page.locator("#merge-timeline li.timeline-merge")
    await expect(merge).to_have_count(1)
    await expect(merge).to_contain_text("Merged from")
    await expect(merge).to_contain_text(f"named user id {user} and anonymous id {phone}")
    previous = page.locator("ul.previous li")
    await expect(previous).to_have_count(2)

    # the confirmation opens in the page (no script), then the POST undoes it
    confirm = merge.get_by_role("button", name="Yes, undo this merge")
    await expect(confirm).to_be_hidden()
    await merge.get_by_text("Undo this merge", exact=True).click()
    await expect(merge).to_contain_text("is re-created under its own id")
    await confirm.click()
    await expect(page).to_have_url(f"{base}/contacts/{sid}?unmerged={mid}")
    await expect(page.get_by_role("status").filter(has_text="The merge was undone")).to_be_visible()
    await expect(page.locator("#merge-timeline li.timeline-merge")).to_have_count(0)
    await expect(page.locator("#merge-timeline li.timeline-unmerge")).to_contain_text("undone on")

    async def own_conversations(profile_id: str, device: str) -> None:
        for _ in range(60):  # chat follows the durable fact: reload until it has
            await page.goto(f"/contacts/{profile_id}")
            rows = page.locator("ul.previous li")
            if await rows.count() == 1:
                break
            await page.wait_for_timeout(250)
        rows = page.locator("ul.previous li")
        await expect(rows).to_have_count(1)
        # the visitor's text shown as text, never as markup
        await expect(rows.first).to_contain_text(f"<b>hello</b> from my {device}")

    await own_conversations(sid, "laptop")
    await own_conversations(mid, "phone")
    await expect(page.locator("#merge-timeline li.timeline-unmerge")).to_have_count(1)
    assert not refused, refused

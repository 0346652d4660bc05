"""Issue 14 in real Chromium: an admin opens a merged profile and sees why it is one (the
timeline of merges, each with its cause) and its identity graph, at 2, 10 and 50 devices.

Real identity, chat and dashboard on the real nats-server and SecantusDB. With
PARLEY_SCREENSHOTS=<dir> the graph is saved there as identity-graph-<n>.png (the
pictures in docs/img/ come from `PARLEY_SCREENSHOTS=docs/img`)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from playwright.async_api import expect

from shared.bus import Bus
from tests.e2e.test_dashboard_live import signed_in_page
from tests.integration.identity_support import drained, event, publish

pytestmark = pytest.mark.e2e
WS = "default"


async def merged_person(bus: Bus, devices: int) -> tuple[str, str, list[str]]:
    """One user seen on `devices` browsers apart, then identified on each: devices - 1
    merges. Its profile id, user id and anonymous ids."""
    user = f"u-{uuid.uuid4().hex[:8]}"
    anons = [f"a{i:02d}-{uuid.uuid4().hex[:6]}" for i in range(devices)]
    pages = [
        event(
            WS,
            "page",
            anonymous_id=a,
            source="widget",
            trusted=False,
            context={"userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"},
        )
        for a in anons
    ]
    await publish(bus, *pages)
    await drained(bus, timeout=60)
    email = {"email": f"{user}@example.com", "name": f"Person of {devices}"}
    identifies = [
        event(WS, "identify", user_id=user, anonymous_id=a, traits=email if i == 0 else {})
        for i, a in enumerate(anons)
    ]
    await publish(bus, *identifies)
    await drained(bus, timeout=60)
    found = await bus.request(
        bus.subjects.request("identity", "profile.find"), {"workspace_id": WS, "user_id": user}
    )
    [profile] = found["profiles"]
    assert len(profile["merged_from"]) == devices - 1
    return profile["id"], user, anons


@pytest.mark.parametrize("devices", [2, 10, 50])
async def test_an_admin_sees_the_timeline_and_graph_of_a_merged_profile(
    start_service, browser, bus: Bus, devices: int
) -> None:
    for name in ("identity", "chat"):
        await start_service(name)
    server = await start_service("dashboard")
    base = str(server.make_url("")).rstrip("/")
    profile_id, user, anons = await merged_person(bus, devices)
    page = await signed_in_page(browser, base)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    await page.goto(f"/contacts/{profile_id}")

    timeline = page.locator("#merge-timeline li.timeline-merge")
    await expect(timeline).to_have_count(devices - 1)
    first = timeline.first
    await expect(first).to_contain_text("Merged from")
    await expect(first).to_contain_text("because an identify from the API (trusted, message")
    await expect(first).to_contain_text(f"named user id {user} and anonymous id")

    graph = page.locator("#identity-graph svg.identity-graph")
    await expect(graph).to_be_visible()
    await expect(graph).to_have_attribute("data-devices", str(devices))
    await expect(graph.locator("g.node-device")).to_have_count(devices)
    await expect(graph.locator("g.node-merged")).to_have_count(min(devices - 1, 17))
    await expect(graph.locator("g.node-user")).to_contain_text(f"user id: {user}")
    await expect(graph.locator("g.node-email")).to_have_count(1)
    # every device box is at least as wide as its id's text: nothing drawn over it
    for box in (await graph.locator("g.node-device").all())[:5]:
        rect, text = box.locator("rect"), box.locator("text").first
        inner, outer = await text.bounding_box(), await rect.bounding_box()
        assert inner and outer and inner["width"] < outer["width"]
    assert not refused, refused
    if target := os.environ.get("PARLEY_SCREENSHOTS"):
        await page.set_viewport_size({"width": 2300, "height": 1100})  # the whole graph
        await page.locator("#identity-graph").screenshot(
            path=str(Path(target) / f"identity-graph-{devices}.png")
        )

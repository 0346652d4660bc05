"""The dashboard in real Chromium, live: the bus plays the visitor's gateway and identity.

The full loop with the widget on the demo site is in test_dashboard_loop.py; these pin
the dashboard's own live behaviour without depending on the widget.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from shared.bus import Bus
from shared.embedded import free_port
from tests.integration.chat_support import WS, ask, conversation_of, visitor_says
from tests.integration.dashboard_support import ADMIN_EMAIL, ADMIN_PASSWORD

pytestmark = pytest.mark.e2e
XSS = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


class Identity:
    """Identity's request answers, played over the bus, for one visitor's profile."""

    def __init__(self, bus: Bus, distinct_id: str) -> None:
        self.bus = bus
        self.profile = {
            "id": "p-1",
            "stage": "visitor",
            "name": None,
            "email": None,
            "user_id": None,
            "distinct_ids": [distinct_id],
            "city": "Lyon",
            "region": "Auvergne-Rhône-Alpes",
            "country_code": "FR",
            "referring_domain": "news.ycombinator.com",
        }
        self.distinct_id = distinct_id

    async def start(self) -> Identity:
        s = self.bus.subjects

        async def resolve(req: dict) -> dict | None:
            return self.summary() if req["distinct_id"] == self.distinct_id else None

        async def summaries(req: dict) -> dict:
            mine = {"p-1": self.summary()}
            by_did = {self.distinct_id: self.summary()}
            return {
                "profiles": {i: mine.get(i) for i in req.get("ids", [])},
                "distinct_ids": {d: by_did.get(d) for d in req.get("distinct_ids", [])},
            }

        async def get(req: dict) -> dict:
            return dict(self.profile)

        async def find(req: dict) -> dict:
            # the dashboard asks by visitor id until chat has recorded the profile id
            mine = req.get("distinct_id") == self.distinct_id
            return {"profiles": [dict(self.profile)] if mine else []}

        async def events(req: dict) -> dict:
            return {
                "events": [
                    {
                        "event": None,
                        "type": "page",
                        "properties": {"title": "Pricing", "path": "/pricing"},
                        "timestamp": "2026-01-01T00:00:00Z",
                    }
                ]
            }

        for verb, handler in (
            ("profile.resolve", resolve),
            ("profile.summaries", summaries),
            ("profile.get", get),
            ("profile.find", find),
            ("profile.events", events),
        ):
            await self.bus.serve(s.request("identity", verb), handler, queue="identity")
        return self

    def summary(self) -> dict:
        return {k: self.profile[k] for k in ("id", "stage", "name", "email", "user_id")}

    async def promote(self, **changes: str) -> None:
        """What identity does after a promotion: update, then tell the agents."""
        self.profile.update(changes)
        await self.bus.publish(
            self.bus.subjects.live_agents(WS),
            {"type": "profile.updated", "profile": self.summary()},
        )


async def signed_in_page(
    browser, base_url: str, init_script: str | None = None, **context_options: Any
) -> Page:
    """The admin signed in, in a new browser context (`init_script` runs on every page)."""
    context = await browser.new_context(base_url=base_url, **context_options)
    if init_script:
        await context.add_init_script(init_script)
    page = await context.new_page()
    await page.goto("/")
    await page.get_by_label("Email").fill(ADMIN_EMAIL)
    await page.get_by_label("Password").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{base_url}/inbox")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    return page


@pytest.fixture
async def dashboard(start_service):
    await start_service("chat")
    server = await start_service("dashboard")
    return str(server.make_url("")).rstrip("/")


async def test_first_message_appears_live_then_reply_typing_and_stage_badge(
    dashboard, browser, bus: Bus
) -> None:
    identity = await Identity(bus, "d-sally").start()
    page = await signed_in_page(browser, dashboard)
    await expect(page.locator("#empty-state")).to_be_visible()

    # the visitor's first message appears in the inbox without a reload, as text
    await visitor_says(bus, "d-sally", XSS)
    row = page.locator("#conversation-list li.row")
    await expect(row).to_have_count(1)
    await expect(row.locator(".row-preview")).to_have_text(XSS)
    await expect(row.locator(".badge")).to_have_text("Visitor")
    await expect(row.locator(".unread")).to_have_text("1")
    assert await page.evaluate("window.pwned") is None

    await row.locator("a").click()
    await expect(page.locator("#messages .msg-visitor .msg-text")).to_have_text(XSS)
    sidebar = page.locator("#sidebar")
    await expect(sidebar.locator(".person .badge")).to_have_text("Visitor")
    await expect(sidebar).to_contain_text("Lyon, Auvergne-Rhône-Alpes, FR")
    await expect(sidebar).to_contain_text("news.ycombinator.com")

    # the visitor is typing: the agent sees it live
    cid = (await conversation_of(bus, "d-sally"))["conversation_id"]
    await bus.publish(
        bus.subjects.request("chat", "visitor.signal"),
        {
            "type": "typing",
            "workspace_id": WS,
            "visitor_id": "d-sally",
            "conversation_id": cid,
            "typing": True,
        },
    )
    await expect(page.locator("#typing")).to_have_text("Visitor d-sally is typing…")

    # the agent replies with Enter; the visitor's history has it
    await page.get_by_label("Reply").fill("Hi Sally, how can I help?")
    await page.get_by_label("Reply").press("Enter")
    await expect(page.locator("#messages .msg-agent:not(.is-pending) .msg-text")).to_have_text(
        "Hi Sally, how can I help?"
    )
    history = await ask(bus, "history", visitor_id="d-sally")
    assert history["messages"][-1]["text"] == "Hi Sally, how can I help?"

    # an internal note stays with the team
    await page.get_by_label("Internal note").check()
    await page.get_by_label("Reply").fill("Looks like a big account")
    await page.get_by_label("Reply").press("Enter")
    await expect(page.locator("#messages .msg-note:not(.is-pending) .msg-text")).to_have_text(
        "Looks like a big account"
    )
    history = await ask(bus, "history", visitor_id="d-sally")
    assert "Looks like a big account" not in [m["text"] for m in history["messages"]]

    # identity promotes the person: the sidebar badge follows live
    await identity.promote(stage="contact", email="sally@example.com")
    await expect(sidebar.locator(".person .badge")).to_have_text("Contact")
    await expect(page.locator('#sidebar [data-field="email"]')).to_have_text("sally@example.com")
    await identity.promote(stage="member", user_id="u-42", name="Sally Ride")
    await expect(page.locator("#sidebar .person .badge")).to_have_text("Member")
    await expect(page.locator('#sidebar [data-field="user_id"]')).to_have_text("u-42")
    assert await page.evaluate("window.pwned") is None


async def test_a_live_row_is_the_rendered_row_with_its_priority_tag(
    dashboard, browser, bus: Bus
) -> None:
    """Rows that arrive live come from the same macro as the page's rows (_macros.html)."""
    await Identity(bus, "d-pri").start()
    page = await signed_in_page(browser, dashboard)
    await visitor_says(bus, "d-pri", "My order is stuck")
    row = page.locator("#conversation-list li.row")
    await expect(row).to_have_count(1)
    cid = (await conversation_of(bus, "d-pri"))["conversation_id"]

    # a teammate marks it urgent elsewhere: the row shows the tag without a reload
    await ask(bus, "conversation.update", conversation_id=cid, priority="urgent")
    await expect(row.locator(".prio")).to_have_text("Urgent")
    # the next message moves the row: it keeps the tag, and counts the unread
    await visitor_says(bus, "d-pri", "Hello?")
    await expect(row.locator(".row-preview")).to_have_text("Hello?")
    await expect(row.locator(".prio")).to_have_text("Urgent")
    await expect(row.locator(".unread")).to_have_text("2")

    # the same row as a reload renders, but for the live-only "is-new" mark
    live_html = await row.evaluate("li => (li.classList.remove('is-new'), li.outerHTML)")
    await page.reload()
    await expect(row.locator(".prio")).to_have_text("Urgent")
    reloaded = await row.evaluate("li => li.outerHTML")
    normal = "el => el.replace(/<time[^>]*>.*?<\\/time>/, '')"
    assert await page.evaluate(normal, live_html) == await page.evaluate(normal, reloaded)


async def test_second_agent_sees_a_colleagues_reply_after_a_reconnect(
    start_service, browser, bus: Bus
) -> None:
    """Agent B's dashboard process goes away; A replies meanwhile; B's page resyncs."""
    await start_service("chat")
    a_server = await start_service("dashboard")
    port = free_port()
    b_server = await start_service("dashboard", port=port)
    await visitor_says(bus, "d-bob", "is anyone there?")
    cid = (await conversation_of(bus, "d-bob"))["conversation_id"]

    page_a = await signed_in_page(browser, str(a_server.make_url("")).rstrip("/"))
    b_url = str(b_server.make_url("")).rstrip("/")
    page_b = await signed_in_page(browser, b_url)
    await page_b.goto(f"/conversations/{cid}")
    await expect(page_b.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(page_b.locator("#messages .msg")).to_have_count(1)

    await b_server.close()
    await expect(page_b.locator("#live-status")).to_have_attribute("data-state", "offline")

    await page_a.goto(f"/conversations/{cid}")
    await page_a.get_by_label("Reply").fill("Yes, Ann here!")
    await page_a.get_by_label("Reply").press("Enter")
    await expect(page_a.locator("#messages .msg-agent:not(.is-pending)")).to_have_count(1)
    await visitor_says(bus, "d-bob", "great, thanks")
    await conversation_of(bus, "d-bob", messages=3)

    await start_service("dashboard", port=port)
    await expect(page_b.locator("#live-status")).to_have_attribute(
        "data-state", "live", timeout=20_000
    )
    await expect(page_b.locator("#messages .msg-text")).to_have_text(
        ["is anyone there?", "Yes, Ann here!", "great, thanks"]
    )


async def test_a_forged_form_from_another_origin_is_refused(
    dashboard, browser, aiohttp_server
) -> None:
    """A page elsewhere posting to the dashboard with the agent's cookie changes nothing."""
    from aiohttp import web

    page = await signed_in_page(browser, dashboard)
    forged = f"""<!doctype html><form id="f" method="post" action="{dashboard}/settings/canned">
    <input name="shortcut" value="pwned"><input name="text" value="forged"></form>
    <script>document.getElementById("f").submit()</script>"""

    async def evil(request: web.Request) -> web.Response:
        return web.Response(text=forged, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", evil)
    other = await aiohttp_server(app)
    attack = await page.context.new_page()
    async with attack.expect_response(lambda r: r.url.endswith("/settings/canned")) as seen:
        await attack.goto(str(other.make_url("/")))
    response = await seen.value
    assert response.status == 403
    await page.goto("/settings")
    await expect(page.locator("#canned")).not_to_contain_text("forged")


async def test_wrong_passwords_are_throttled_in_the_browser(dashboard, browser) -> None:
    context = await browser.new_context(base_url=dashboard)
    page = await context.new_page()
    await page.goto("/")
    for _ in range(5):
        await page.get_by_label("Email").fill(ADMIN_EMAIL)
        await page.get_by_label("Password").fill("not the password")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    await page.get_by_label("Password").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
    await expect(page).not_to_have_url(f"{dashboard}/inbox")


async def test_the_assignee_control_follows_the_first_reply_and_a_colleagues_change(
    dashboard, browser, bus: Bus
) -> None:
    await Identity(bus, "d-una").start()
    await visitor_says(bus, "d-una", "hello?")
    cid = (await conversation_of(bus, "d-una"))["conversation_id"]
    page = await signed_in_page(browser, dashboard)
    await page.goto(f"/conversations/{cid}")
    me = await page.locator("main").get_attribute("data-agent-id")
    assignee = page.get_by_label("Assignee")
    await expect(assignee).to_have_value("none")

    # the first reply assigns the conversation to whoever sent it: the control says so
    await page.get_by_label("Reply").fill("On it")
    await page.get_by_label("Reply").press("Enter")
    await expect(assignee).to_have_value(me or "")

    # unassigned elsewhere (another tab, routing, a colleague): it follows, no reload
    await page.evaluate("window.notReloaded = true")
    await ask(bus, "conversation.update", conversation_id=cid, assignee_id=None)
    await expect(assignee).to_have_value("none")
    assert await page.evaluate("window.notReloaded") is True

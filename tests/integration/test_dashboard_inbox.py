"""The inbox and conversation pages against the real chat service (identity played over the bus)."""

from __future__ import annotations

import asyncio
import re

import pytest

from shared.bus import Bus
from tests.integration.chat_support import ask, conversation_of, visitor_says
from tests.integration.dashboard_support import sign_in, signed_in_client
from tests.support import eventually

ROW = re.compile(r'<li class="row[^"]*" data-id="([^"]+)"')


@pytest.fixture
async def agent(start_service, aiohttp_client):
    """Chat and the dashboard running; a signed-in admin client (with its CSRF token)."""
    return await signed_in_client(start_service, aiohttp_client, "chat")


async def stand_in_identity(bus: Bus, profiles: dict[str, dict]) -> None:
    """Identity's answers for the profiles given, keyed by distinct id."""
    by_id = {p["id"]: p for p in profiles.values()}

    async def resolve(req: dict) -> dict | None:
        return profiles.get(req["distinct_id"])

    async def summaries(req: dict) -> dict:
        return {
            "profiles": {i: by_id.get(i) for i in req.get("ids", [])},
            "distinct_ids": {d: profiles.get(d) for d in req.get("distinct_ids", [])},
        }

    async def get(req: dict) -> dict:
        return {**by_id[req["profile_id"]], "distinct_ids": ["d-sally"], "city": "Lyon"}

    async def events(req: dict) -> dict:
        return {
            "events": [{"event": "Signed up", "type": "track", "timestamp": "2026-01-01T00:00:00Z"}]
        }

    s = bus.subjects
    await bus.serve(s.request("identity", "profile.resolve"), resolve, queue="identity")
    await bus.serve(s.request("identity", "profile.summaries"), summaries, queue="identity")
    await bus.serve(s.request("identity", "profile.get"), get, queue="identity")
    await bus.serve(s.request("identity", "profile.events"), events, queue="identity")


def row_ids(html: str) -> list[str]:
    return ROW.findall(html)


async def test_inbox_pages_25_at_a_time_newest_first_with_a_cursor(agent, bus: Bus) -> None:
    """30 conversations: 25 on the first page, 5 on the next, no overlap, newest first."""

    async def stored(count: int) -> bool:
        page = await ask(bus, "conversations.list", view="all", agent_id="x", limit=100)
        return len(page["conversations"]) == count

    for n in range(29):
        await visitor_says(bus, f"v{n:02d}", f"question number {n}")
    # chat stores a batch within one millisecond; the newest must be newer than the rest
    await eventually(lambda: stored(29))
    await visitor_says(bus, "v29", "question number 29")
    last = await conversation_of(bus, "v29")
    await eventually(lambda: stored(30))
    first = await (await agent.get("/inbox?view=all&status=open")).text()
    ids = row_ids(first)
    assert len(ids) == 25
    assert ids[0] == last["conversation_id"]
    assert "question number 29" in first
    cursor = re.search(
        r'rel="next" href="/inbox\?view=all&amp;status=open&amp;cursor=([^"]+)"', first
    )
    assert cursor, "no link to the next page"
    second = await (await agent.get(f"/inbox?view=all&status=open&cursor={cursor.group(1)}")).text()
    more = row_ids(second)
    assert len(more) == 5 and not set(more) & set(ids)
    assert 'rel="next"' not in second


async def test_rows_show_who_the_person_is_and_unread_counts(agent, bus: Bus) -> None:
    await stand_in_identity(
        bus,
        {
            "d-sally": {
                "id": "p-sally",
                "stage": "contact",
                "name": "Sally Ride",
                "email": "sally@example.com",
                "user_id": None,
            }
        },
    )
    await visitor_says(bus, "d-sally", "first")
    await visitor_says(bus, "d-sally", "second")
    await visitor_says(bus, "d-anon", "who am I")
    await conversation_of(bus, "d-sally", messages=2)
    await conversation_of(bus, "d-anon")
    html = await (await agent.get("/inbox")).text()
    assert "Sally Ride" in html
    assert 'class="badge badge-contact" data-field="stage">Contact<' in html
    assert 'data-count="2"' in html
    assert "Visitor d-anon" in html  # no profile: a readable stand-in, never an error


async def test_views_filter_mine_unassigned_and_status(agent, bus: Bus) -> None:
    await visitor_says(bus, "v-a", "assign me")
    await visitor_says(bus, "v-b", "leave me")
    a = (await conversation_of(bus, "v-a"))["conversation_id"]
    b = (await conversation_of(bus, "v-b"))["conversation_id"]
    assigned = await agent.post(
        f"/conversations/{a}/update",
        data={"assignee": "me", "csrf": agent.csrf},
        allow_redirects=False,
    )
    assert assigned.status == 303
    mine = row_ids(await (await agent.get("/inbox?view=mine")).text())
    unassigned = row_ids(await (await agent.get("/inbox?view=unassigned")).text())
    assert mine == [a]
    assert unassigned == [b]
    resolved = await agent.post(
        f"/conversations/{b}/update",
        data={"status": "resolved", "csrf": agent.csrf},
        allow_redirects=False,
    )
    assert resolved.status == 303
    assert row_ids(await (await agent.get("/inbox?view=all&status=open")).text()) == [a]
    assert row_ids(await (await agent.get("/inbox?view=all&status=resolved")).text()) == [b]


async def test_conversation_page_shows_the_thread_and_visitor_text_stays_text(
    agent, bus: Bus
) -> None:
    payload = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    await visitor_says(bus, "v-x", "hello")
    await visitor_says(bus, "v-x", payload)
    cid = (await conversation_of(bus, "v-x", messages=2))["conversation_id"]
    html = await (await agent.get(f"/conversations/{cid}")).text()
    assert "<script>alert(2)</script>" not in html
    assert (
        "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in html
    )
    assert html.index(">hello<") < html.index("&lt;img")
    assert '<label for="reply" class="composer-label">Reply</label>' in html
    # the inbox preview escapes it too
    inbox = await (await agent.get("/inbox")).text()
    assert "<script>alert(2)</script>" not in inbox


async def test_reply_and_internal_note_through_the_api(agent, bus: Bus) -> None:
    await visitor_says(bus, "v-r", "help please")
    cid = (await conversation_of(bus, "v-r"))["conversation_id"]
    headers = {"X-CSRF-Token": agent.csrf}
    sent = await agent.post(
        f"/api/conversations/{cid}/messages",
        json={"text": "Happy to help", "client_msg_id": "m-1", "internal": False},
        headers=headers,
    )
    assert sent.status == 200
    message = (await sent.json())["message"]
    assert message["seq"] == 2 and message["author"]["name"] == "Admin"
    again = await agent.post(
        f"/api/conversations/{cid}/messages",
        json={"text": "Happy to help", "client_msg_id": "m-1"},
        headers=headers,
    )
    assert (await again.json())["message"]["id"] == message["id"]  # a retry is stored once
    note = await agent.post(
        f"/api/conversations/{cid}/messages",
        json={"text": "VIP customer", "client_msg_id": "m-2", "internal": True},
        headers=headers,
    )
    assert (await note.json())["message"]["internal"] is True
    visitor_view = await ask(bus, "history", visitor_id="v-r")
    assert [m["text"] for m in visitor_view["messages"]] == ["help please", "Happy to help"]
    missed = await (await agent.get(f"/api/conversations/{cid}/messages?after_seq=1")).json()
    assert [m["text"] for m in missed["messages"]] == ["Happy to help", "VIP customer"]
    page = await (await agent.get(f"/conversations/{cid}")).text()
    assert 'class="msg msg-note"' in page


async def test_resync_lists_what_changed_since_with_people(agent, bus: Bus) -> None:
    await visitor_says(bus, "v-old", "old")
    await conversation_of(bus, "v-old")
    await asyncio.sleep(0.05)
    since = (await ask(bus, "conversations.list", view="all", agent_id="x"))["conversations"][0][
        "updated_at"
    ]
    await visitor_says(bus, "v-new", "new while offline")
    new = (await conversation_of(bus, "v-new"))["conversation_id"]
    result = await (await agent.get(f"/api/changes?since={since}")).json()
    assert [c["id"] for c in result["conversations"]] == [new]
    assert result["conversations"][0]["person"]["label"] == "Visitor v-new"
    assert result["complete"] is True


async def test_pages_render_with_a_notice_when_chat_and_identity_are_down(
    start_service, aiohttp_client
) -> None:
    client = await aiohttp_client(await start_service("dashboard"))
    await sign_in(client)
    inbox = await client.get("/inbox")
    assert inbox.status == 200
    assert "Chat is not answering right now" in await inbox.text()
    contacts = await client.get("/contacts")
    assert contacts.status == 200
    assert "Identity is not answering right now" in await contacts.text()


async def test_snooze_and_priority_from_the_conversation_page(agent, bus: Bus) -> None:
    await visitor_says(bus, "v-s", "later")
    cid = (await conversation_of(bus, "v-s"))["conversation_id"]
    for form in ({"snooze": "1h"}, {"priority": "high"}):
        response = await agent.post(
            f"/conversations/{cid}/update", data={**form, "csrf": agent.csrf}, allow_redirects=False
        )
        assert response.status == 303
    page = await (await agent.get(f"/conversations/{cid}")).text()
    assert 'class="status status-snoozed"' in page
    assert '<option value="high" selected>' in page
    snoozed = row_ids(await (await agent.get("/inbox?status=snoozed")).text())
    assert snoozed == [cid]

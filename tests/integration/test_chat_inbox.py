"""The agents' side of chat: views, cursor paging, status, assignment, unread and read marks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestServer

from services.chat.store import new_conversation
from shared.bus import Bus
from shared.settings import Settings
from shared.web import DB, DIALECT
from tests.conftest import StartService
from tests.integration.chat_support import WS, Frames, ask, conversation_of, visitor_says
from tests.support import eventually

ANN = {"id": "agent-ann", "name": "Ann", "avatar": None}


@pytest.fixture(params=["secantus", "mongod"])
async def chat(
    start_service: StartService, settings: Settings, request: pytest.FixtureRequest
) -> TestServer:
    """Every inbox test on both dialects: the windowed pages SecantusDB needs and the
    natural sorted query (with descending index keys) MongoDB uses, both on SecantusDB."""
    server = await start_service("chat", settings.with_changes(mongo_dialect=request.param))
    assert server.app[DIALECT].name == request.param
    return server


async def _open_chat(bus: Bus, visitor_id: str, text: str = "hello") -> str:
    await visitor_says(bus, visitor_id, text)
    return (await conversation_of(bus, visitor_id))["conversation_id"]


async def test_cursor_paging_visits_every_conversation_once_newest_first(chat, bus: Bus) -> None:
    base = datetime(2026, 3, 1, tzinfo=UTC)
    docs = []
    for n in range(57):
        doc = new_conversation(WS, f"v{n:03d}", f"v{n:03d}", base)
        # groups of three share a timestamp: the cursor must break ties by id
        doc["last_activity_at"] = base + timedelta(seconds=n // 3)
        doc["status"] = "resolved" if n % 4 == 0 else "open"
        doc["assignee_id"] = "agent-ann" if n % 2 else None
        docs.append(doc)
    await chat.app[DB]["conversations"].insert_many(docs)
    expected = sorted(docs, key=lambda d: (d["last_activity_at"], d["_id"]), reverse=True)

    async def walk(**filters) -> list[dict]:
        seen, cursor = [], None
        while True:
            page = await ask(
                bus, "conversations.list", agent_id="agent-ann", limit=10, cursor=cursor, **filters
            )
            assert len(page["conversations"]) <= 10
            seen += page["conversations"]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen

    everything = await walk(view="all")
    assert [c["id"] for c in everything] == [d["_id"] for d in expected]
    mine_open = await walk(view="mine", status="open")
    want = [d["_id"] for d in expected if d["assignee_id"] == "agent-ann" and d["status"] == "open"]
    assert [c["id"] for c in mine_open] == want
    unassigned = await walk(view="unassigned")
    assert [c["id"] for c in unassigned] == [d["_id"] for d in expected if d["assignee_id"] is None]
    first = await ask(bus, "conversations.list", view="all", agent_id="agent-ann")
    assert len(first["conversations"]) == 25 and first["next_cursor"]


async def test_newest_activity_comes_first(chat, bus: Bus) -> None:
    await _open_chat(bus, "v-old")
    await _open_chat(bus, "v-new")
    await visitor_says(bus, "v-old", "me again")
    await conversation_of(bus, "v-old", messages=2)
    page = await ask(bus, "conversations.list", view="all", agent_id="agent-ann")
    assert [c["visitor_id"] for c in page["conversations"]] == ["v-old", "v-new"]
    assert page["conversations"][0]["last_message"]["text"] == "me again"


async def test_status_changes_are_published_and_a_visitor_message_reopens(chat, bus: Bus) -> None:
    cid = await _open_chat(bus, "v-status")
    agents = await Frames.on(bus, bus.subjects.live_agents(WS))
    resolved = await ask(
        bus,
        "conversation.update",
        conversation_id=cid,
        agent_id="agent-ann",
        status="resolved",
        priority="high",
    )
    assert (resolved["status"], resolved["priority"]) == ("resolved", "high")
    frame = await agents.wait_for(lambda f: f["type"] == "conversation.updated")
    assert frame["conversation"]["status"] == "resolved"
    listed = await ask(
        bus, "conversations.list", view="all", status="resolved", agent_id="agent-ann"
    )
    assert [c["id"] for c in listed["conversations"]] == [cid]

    await visitor_says(bus, "v-status", "one more question")
    await conversation_of(bus, "v-status", messages=2)
    got = await ask(bus, "conversation.get", conversation_id=cid, agent_id="agent-ann")
    assert got["conversation"]["status"] == "open"

    pending = await ask(
        bus, "conversation.update", conversation_id=cid, agent_id="agent-ann", status="pending"
    )
    assert pending["status"] == "pending"
    with pytest.raises(Exception, match="future"):
        await ask(
            bus, "conversation.update", conversation_id=cid, agent_id="agent-ann", status="snoozed"
        )


async def test_a_snoozed_conversation_wakes_when_due(chat, bus: Bus) -> None:
    cid = await _open_chat(bus, "v-snooze")
    until = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    snoozed = await ask(
        bus,
        "conversation.update",
        conversation_id=cid,
        agent_id="agent-ann",
        status="snoozed",
        snoozed_until=until,
    )
    assert snoozed["status"] == "snoozed" and snoozed["snoozed_until"]

    async def woke() -> bool:
        got = await ask(bus, "conversation.get", conversation_id=cid, agent_id="agent-ann")
        return (
            got["conversation"]["status"] == "open" and got["conversation"]["snoozed_until"] is None
        )

    await eventually(woke, timeout=8)


async def test_round_robin_takes_turns_among_online_agents_only(chat, bus: Bus) -> None:
    cids = [await _open_chat(bus, f"v-rr{n}") for n in range(4)]
    none_online = await ask(
        bus, "conversation.update", conversation_id=cids[0], agent_id="x", assignee_id="auto"
    )
    assert none_online["assignee_id"] is None

    presence = bus.subjects.request("chat", "agent.presence")
    for agent in ("agent-bo", "agent-ann", "agent-cy"):
        await bus.publish(
            presence,
            {"workspace_id": WS, "agent_id": agent, "name": agent, "avatar": None, "online": True},
        )
    await bus.publish(
        presence, {"workspace_id": WS, "agent_id": "agent-cy", "name": "cy", "online": False}
    )

    async def two_online() -> bool:
        return (await ask(bus, "presence.get"))["online_agents"] == 2

    await eventually(two_online)
    assigned = [
        (
            await ask(
                bus, "conversation.update", conversation_id=c, agent_id="x", assignee_id="auto"
            )
        )["assignee_id"]
        for c in cids
    ]
    assert assigned == ["agent-ann", "agent-bo", "agent-ann", "agent-bo"]
    mine = await ask(bus, "conversations.list", view="mine", agent_id="agent-bo")
    assert {c["id"] for c in mine["conversations"]} == {cids[1], cids[3]}
    unassigned = await ask(
        bus, "conversation.update", conversation_id=cids[0], agent_id="x", assignee_id=None
    )
    assert unassigned["assignee_id"] is None


async def test_unread_counts_per_agent_and_read_receipts(chat, bus: Bus) -> None:
    cid = await _open_chat(bus, "v-unread", "one")
    await visitor_says(bus, "v-unread", "two")
    await visitor_says(bus, "v-unread", "three")
    history = await conversation_of(bus, "v-unread", messages=3)
    visitor = await Frames.on(bus, bus.subjects.live_visitor(WS, "v-unread"))
    agents = await Frames.on(bus, bus.subjects.live_agents(WS))

    async def unread_of(agent: str) -> int:
        page = await ask(bus, "conversations.list", view="all", agent_id=agent)
        return next(c["unread"] for c in page["conversations"] if c["id"] == cid)

    assert await unread_of("agent-ann") == 3
    mark = await ask(
        bus,
        "conversation.read",
        conversation_id=cid,
        agent_id="agent-ann",
        seq=history["messages"][1]["seq"],
    )
    assert mark["unread"] == 1
    assert await unread_of("agent-ann") == 1
    assert await unread_of("agent-bo") == 3, "read marks are per agent"
    receipt = await visitor.wait_for(lambda f: f["type"] == "read")
    assert receipt == {"type": "read", "conversation_id": cid, "seq": 2}
    await agents.wait_for(lambda f: f["type"] == "read" and f["agent_id"] == "agent-ann")

    # marks never move back, and an agent's own reply is not unread
    await ask(bus, "conversation.read", conversation_id=cid, agent_id="agent-ann", seq=3)
    back = await ask(bus, "conversation.read", conversation_id=cid, agent_id="agent-ann", seq=1)
    assert (back["seq"], back["unread"]) == (3, 0)
    await ask(bus, "agent.send", conversation_id=cid, agent=ANN, client_msg_id="a1", text="hi")
    assert await unread_of("agent-ann") == 0
    await visitor_says(bus, "v-unread", "four")
    await conversation_of(bus, "v-unread", messages=5)
    assert await unread_of("agent-ann") == 1


async def test_the_visitor_read_mark_and_typing_reach_agents(chat, bus: Bus) -> None:
    cid = await _open_chat(bus, "v-signals")
    await ask(bus, "agent.send", conversation_id=cid, agent=ANN, client_msg_id="a1", text="hi")
    agents = await Frames.on(bus, bus.subjects.live_agents(WS))
    visitor = await Frames.on(bus, bus.subjects.live_visitor(WS, "v-signals"))
    signal = bus.subjects.request("chat", "visitor.signal")
    await bus.publish(
        signal,
        {
            "type": "typing",
            "workspace_id": WS,
            "visitor_id": "v-signals",
            "conversation_id": "forged",
            "typing": True,
        },
    )
    typing = await agents.wait_for(lambda f: f["type"] == "typing")
    assert typing["conversation_id"] == cid and typing["typing"] is True
    await bus.publish(
        signal,
        {
            "type": "read",
            "workspace_id": WS,
            "visitor_id": "v-signals",
            "conversation_id": cid,
            "seq": 2,
        },
    )
    await agents.wait_for(lambda f: f == {"type": "visitor.read", "conversation_id": cid, "seq": 2})

    await bus.publish(
        bus.subjects.request("chat", "agent.typing"),
        {"workspace_id": WS, "conversation_id": cid, "agent": ANN, "typing": True},
    )
    frame = await visitor.wait_for(lambda f: f["type"] == "typing")
    assert frame == {"type": "typing", "typing": True, "agent": {"name": "Ann", "avatar": None}}


async def test_changed_since_gives_a_reconnecting_dashboard_what_it_missed(chat, bus: Bus) -> None:
    quiet = await _open_chat(bus, "v-quiet")
    busy = await _open_chat(bus, "v-busy")
    got = await ask(bus, "conversation.get", conversation_id=busy, agent_id="agent-ann")
    since = got["conversation"]["updated_at"]
    await ask(
        bus,
        "agent.send",
        conversation_id=busy,
        agent=ANN,
        client_msg_id="a1",
        text="reply while you were away",
    )
    changed = await ask(bus, "conversations.changed", agent_id="agent-bo", since=since)
    assert [c["id"] for c in changed["conversations"]] == [busy]
    assert changed["conversations"][0]["last_message"]["text"] == "reply while you were away"
    assert quiet not in [c["id"] for c in changed["conversations"]]
    missed = await ask(bus, "conversation.messages", conversation_id=busy, after_seq=1)
    assert [m["text"] for m in missed["messages"]] == ["reply while you were away"]
    again = await ask(
        bus,
        "conversations.changed",
        agent_id="agent-bo",
        since=changed["next_since"],
        after_id=changed["next_after_id"],
    )
    assert again["conversations"] == []

"""The inbox views' counts, kept with every change of status or assignee (never counted
per request), checked against the conversations themselves after each step."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from services.chat import recount
from services.chat.store.counts import STATUSES
from shared.bus import Bus
from shared.clock import iso
from shared.settings import Settings
from shared.web import DB, DIALECT
from tests.conftest import StartService
from tests.integration.chat_support import WS, ask, conversation_of, visitor_says
from tests.support import eventually

ANN = {"id": "agent-ann", "name": "Ann", "avatar": None}


@pytest.fixture(params=["secantus", "mongod"])
async def chat(
    start_service: StartService, settings: Settings, request: pytest.FixtureRequest
) -> TestServer:
    server = await start_service("chat", settings.with_changes(mongo_dialect=request.param))
    assert server.app[DIALECT].name == request.param
    return server


async def truth(chat: TestServer, agent_id: str) -> dict[str, dict[str, int]]:
    """The counts as the collection has them, counted here by hand."""
    seen: Counter[tuple[str, str]] = Counter()
    async for doc in chat.app[DB]["conversations"].find({"workspace_id": WS}):
        owner = doc.get("assignee_id")
        seen["all", doc["status"]] += 1
        if owner is None:
            seen["unassigned", doc["status"]] += 1
        if owner == agent_id:
            seen["mine", doc["status"]] += 1
    views = {v: {s: seen[v, s] for s in STATUSES} for v in ("all", "unassigned", "mine")}
    views["queue"] = {s: views["unassigned"]["open"] if s == "open" else 0 for s in STATUSES}
    return views


async def counts(bus: Bus, agent_id: str = "agent-ann") -> dict[str, dict[str, int]]:
    return (await ask(bus, "inbox.counts", agent_id=agent_id))["counts"]


async def agrees(chat: TestServer, bus: Bus, agent_id: str = "agent-ann") -> dict:
    expected = await truth(chat, agent_id)
    assert await counts(bus, agent_id) == expected
    return expected


async def update(bus: Bus, cid: str, **change: Any) -> dict:
    return await ask(bus, "conversation.update", conversation_id=cid, **change)


async def test_counts_follow_create_assign_reassign_resolve_reopen_snooze(chat, bus: Bus) -> None:
    assert await counts(bus) == await truth(chat, "agent-ann")  # nothing yet: zeros
    cids = []
    for n in range(3):
        await visitor_says(bus, f"v-count-{n}", "hello")
        cids.append((await conversation_of(bus, f"v-count-{n}"))["conversation_id"])
    got = await agrees(chat, bus)
    assert got["all"]["open"] == 3 and got["queue"]["open"] == 3 and got["mine"]["open"] == 0

    await update(bus, cids[0], assignee_id="agent-ann")  # assign
    got = await agrees(chat, bus)
    assert got["mine"]["open"] == 1 and got["unassigned"]["open"] == 2
    await update(bus, cids[0], assignee_id="agent-bo")  # reassign
    got = await agrees(chat, bus)
    assert got["mine"]["open"] == 0
    assert (await counts(bus, "agent-bo"))["mine"]["open"] == 1
    await update(bus, cids[0], status="resolved")  # resolve
    got = await agrees(chat, bus)
    assert got["all"] == {"open": 2, "pending": 0, "snoozed": 0, "resolved": 1}
    await update(bus, cids[0], status="open")  # reopen by hand
    await agrees(chat, bus)
    until = iso(datetime.now(UTC) + timedelta(hours=1))
    await update(bus, cids[1], status="snoozed", snoozed_until=until)  # snooze
    got = await agrees(chat, bus)
    assert got["all"]["snoozed"] == 1 and got["unassigned"]["snoozed"] == 1

    # the fold's changes: a visitor message wakes a resolved conversation, a first reply
    # makes the conversation the sender's
    await update(bus, cids[2], status="resolved")
    await visitor_says(bus, "v-count-2", "me again")
    await conversation_of(bus, "v-count-2", messages=2)
    got = await agrees(chat, bus)
    assert got["all"]["resolved"] == 0
    await ask(bus, "agent.send", conversation_id=cids[2], agent=ANN, client_msg_id="a1", text="hi")
    await conversation_of(bus, "v-count-2", messages=3)
    got = await agrees(chat, bus)
    assert got["mine"]["open"] == 1


async def test_concurrent_changes_of_one_conversation_keep_the_counts(chat, bus: Bus) -> None:
    await visitor_says(bus, "v-race", "hello")
    cid = (await conversation_of(bus, "v-race"))["conversation_id"]
    changes: list[dict[str, Any]] = [
        {"assignee_id": "agent-ann"},
        {"status": "resolved"},
        {"assignee_id": "agent-bo"},
        {"status": "pending"},
        {"assignee_id": None},
        {"status": "open", "assignee_id": "agent-ann"},
    ] * 3
    await asyncio.gather(*(update(bus, cid, **c) for c in changes))
    await agrees(chat, bus)
    assert sum((await counts(bus))["all"].values()) == 1


async def test_two_chat_processes_changing_at_once_keep_the_counts(
    chat, start_service: StartService, settings: Settings, bus: Bus
) -> None:
    await start_service("chat", settings.with_changes(mongo_dialect=chat.app[DIALECT].name))
    cids = []
    for n in range(4):
        await visitor_says(bus, f"v-two-{n}", "hello")
        cids.append((await conversation_of(bus, f"v-two-{n}"))["conversation_id"])
    moves = [
        update(bus, cid, **change)
        for cid in cids
        for change in ({"assignee_id": "agent-ann"}, {"status": "resolved"}, {"assignee_id": None})
    ]
    await asyncio.gather(*moves)  # the requests spread over both processes (a queue group)
    await agrees(chat, bus)


async def test_the_recount_command_repairs_counts_that_drifted(
    chat, bus: Bus, env, monkeypatch
) -> None:
    await visitor_says(bus, "v-drift", "hello")
    cid = (await conversation_of(bus, "v-drift"))["conversation_id"]
    await update(bus, cid, assignee_id="agent-ann")
    counters = chat.app[DB]["inbox_counts"]
    await counters.update_one(
        {"_id": WS}, {"$inc": {"all.open": 40, "agents.a_agent-ann.open": -7}}
    )
    assert await counts(bus) != await truth(chat, "agent-ann")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PARLEY_MONGO_DIALECT", chat.app[DIALECT].name)
    assert await asyncio.to_thread(recount.main, [WS]) == 0
    await agrees(chat, bus)


async def test_counts_are_rebuilt_at_start_when_missing(
    start_service: StartService, settings: Settings, bus: Bus
) -> None:
    first = await start_service("chat")
    await visitor_says(bus, "v-start", "hello")
    await conversation_of(bus, "v-start")
    await first.app[DB]["inbox_counts"].delete_many({})
    second = await start_service("chat")

    async def rebuilt() -> bool:
        doc = await second.app[DB]["inbox_counts"].find_one({"_id": WS})
        return doc is not None and doc["all"].get("open") == 1

    await eventually(rebuilt)

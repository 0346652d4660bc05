"""Presence (Available / Away, auto-away) and routing (capacity, queue, replicas racing),
against the real chat service on the session's nats-server and SecantusDB.

Conversations are made with routing off (each one fully stored before the next, so
"oldest first" has a known answer), then routing is switched on and agents arrive.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from services.chat.app import CHAT
from services.chat.app import create_app as chat_app
from services.chat.claims import STUCK_AFTER_SECONDS
from services.chat.presence import Presence
from shared.bus import Bus
from shared.settings import Settings
from shared.workspaces import Workspace, WorkspaceRegistry
from tests.faults.harness import ServiceProcess
from tests.integration.chat_support import WS, ask, conversation_of, visitor_says
from tests.support import eventually


class Monotonic:
    """The presence clock, moved by the test (auto-away is minutes long)."""

    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def clock() -> Monotonic:
    return Monotonic()


@pytest.fixture
def start_chat(aiohttp_server, settings: Settings, clock: Monotonic):
    async def start():
        presence = Presence(ttl=3600.0, warmup=0.0, sign_off_grace=0.2, clock=clock)
        return await aiohttp_server(chat_app(settings, presence=presence, tick=0.05))

    return start


@pytest.fixture
async def registry(bus: Bus) -> AsyncIterator[WorkspaceRegistry]:
    reg = WorkspaceRegistry(bus)
    await reg.start()
    yield reg
    await reg.stop()


async def edit(registry: WorkspaceRegistry, change: Callable[[Workspace], None]) -> None:
    async def loaded() -> bool:
        return registry.get(WS) is not None

    await eventually(loaded)

    def apply(ws: Workspace) -> Workspace:
        change(ws)
        return ws

    await registry.update(WS, apply)


async def arrive(bus: Bus, agent: str, online: bool = True) -> None:
    payload = {"workspace_id": WS, "agent_id": agent, "name": agent.title(), "online": online}
    await bus.publish(bus.subjects.request("chat", "agent.presence"), payload)


async def conversations(bus: Bus, count: int, tag: str) -> list[str]:
    """`count` conversations, oldest first."""
    ids = []
    for n in range(count):
        visitor = f"{tag}-{n}"
        await visitor_says(bus, visitor, f"hello {n}")
        ids.append((await conversation_of(bus, visitor))["conversation_id"])
    return ids


async def assignees(bus: Bus, ids: list[str]) -> list[str | None]:
    got = [await ask(bus, "conversation.get", conversation_id=c) for c in ids]
    return [g["conversation"]["assignee_id"] for g in got]


async def becomes(bus: Bus, ids: list[str], expected: list[str | None]) -> None:
    async def reached() -> bool:
        return await assignees(bus, ids) == expected

    try:
        await eventually(reached, timeout=15)
    except AssertionError:
        raise AssertionError(f"assignees {await assignees(bus, ids)} != {expected}") from None


def route(mode: str, **capacity: int) -> Callable[[Workspace], None]:
    def change(ws: Workspace) -> None:
        ws.routing = mode
        ws.agent_capacity = dict(capacity)

    return change


async def test_capacity_queue_oldest_first_and_room_made_by_resolving(
    start_chat, bus: Bus, registry: WorkspaceRegistry
) -> None:
    await start_chat()
    c1, c2, c3, c4 = await conversations(bus, 4, "q")
    await edit(registry, route("least_busy", ann=1, bo=2))
    await arrive(bus, "ann")
    # Ann has room for one: the oldest is hers, the rest wait in the queue
    await becomes(bus, [c1, c2, c3, c4], ["ann", None, None, None])
    queue = await ask(bus, "conversations.list", view="queue")
    assert sorted(c["id"] for c in queue["conversations"]) == sorted([c2, c3, c4])

    await arrive(bus, "bo")  # Bo has room for two: the next two oldest
    await becomes(bus, [c1, c2, c3, c4], ["ann", "bo", "bo", None])

    # Ann resolves hers: room again, and the last waiting one is hers within a tick
    await ask(bus, "conversation.update", conversation_id=c1, status="resolved")
    await becomes(bus, [c1, c2, c3, c4], ["ann", "bo", "bo", "ann"])
    assert (await ask(bus, "conversations.list", view="queue"))["conversations"] == []


async def test_round_robin_takes_turns_among_available_agents(
    start_chat, bus: Bus, registry: WorkspaceRegistry
) -> None:
    await start_chat()
    await arrive(bus, "ann")
    await arrive(bus, "bo")
    ids = await conversations(bus, 4, "rr")
    await edit(registry, route("round_robin", ann=5, bo=5))
    got = [None] * 4
    await eventually(lambda: _all_assigned(bus, ids, got), timeout=15)
    assert Counter(got) == {"ann": 2, "bo": 2}
    assert got[0] != got[1] and got[2] != got[3]


async def _all_assigned(bus: Bus, ids: list[str], into: list[Any]) -> bool:
    into[:] = await assignees(bus, ids)
    return None not in into


async def test_an_agent_who_sets_away_is_unseen_by_visitors_and_gets_nothing(
    start_chat, bus: Bus, registry: WorkspaceRegistry
) -> None:
    await start_chat()
    await edit(registry, route("least_busy"))
    await arrive(bus, "ann")
    await edit(registry, lambda ws: setattr(ws, "away_agents", ["ann"]))

    async def visitors_see(n: int) -> bool:
        return (await ask(bus, "presence.get"))["online_agents"] == n

    await eventually(lambda: visitors_see(0))
    [c1] = await conversations(bus, 1, "away")
    await asyncio.sleep(0.5)  # ten ticks: an Away agent is given nothing
    assert await assignees(bus, [c1]) == [None]

    await edit(registry, lambda ws: setattr(ws, "away_agents", []))  # Available again
    await eventually(lambda: visitors_see(1))
    await becomes(bus, [c1], ["ann"])


async def test_auto_away_after_the_set_minutes_with_no_dashboard_open(
    start_chat, bus: Bus, registry: WorkspaceRegistry, clock: Monotonic
) -> None:
    await start_chat()
    await edit(registry, lambda ws: setattr(ws, "auto_away_minutes", 10))
    await arrive(bus, "ann")

    async def visitors_see(n: int) -> bool:
        return (await ask(bus, "presence.get"))["online_agents"] == n

    await eventually(lambda: visitors_see(1))
    await arrive(bus, "ann", online=False)  # her last dashboard tab closed
    await asyncio.sleep(0.3)  # heard (at this clock reading) before the clock moves
    clock.at += 9 * 60  # nine minutes on: still available
    await asyncio.sleep(0.3)
    assert await visitors_see(1)
    clock.at += 61  # past ten: Away by herself
    await eventually(lambda: visitors_see(0))


# --- two chat processes racing ------------------------------------------------------------
@pytest.fixture
def two_chats(env: dict[str, str], tmp_path: Path):
    procs = [ServiceProcess("chat", env, tmp_path / "logs").start() for _ in range(2)]
    yield procs
    for proc in procs:
        proc.stop()


async def test_two_chat_replicas_racing_never_double_assign_or_exceed_capacity(
    two_chats: list[ServiceProcess], bus: Bus, registry: WorkspaceRegistry
) -> None:
    for proc in two_chats:
        await proc.ready()
    frames: list[dict[str, Any]] = []

    async def keep(frame: dict[str, Any]) -> None:
        if frame.get("type") == "conversation.updated":
            frames.append(frame["conversation"])

    await bus.subscribe(bus.subjects.live_agents(WS), keep)
    ids = await conversations(bus, 12, "race")
    capacity = {"ann": 2, "bo": 3, "cy": 2}
    agents = list(capacity)

    async def beat() -> None:  # both replicas hear every heartbeat (no queue group)
        while True:
            for agent in agents:
                await arrive(bus, agent)
            await asyncio.sleep(2)

    beating = asyncio.create_task(beat())
    try:
        # both replicas wait out their presence warm-up, then drain the same queue at once
        await edit(registry, route("round_robin", **capacity))
        got: list[Any] = []

        async def settled() -> bool:
            got[:] = await assignees(bus, ids)
            return sum(a is not None for a in got) == sum(capacity.values())

        await eventually(settled, timeout=60)
        await asyncio.sleep(2)  # two more ticks of both replicas: still nobody over
        got = await assignees(bus, ids)
    finally:
        beating.cancel()
    held = Counter(a for a in got if a)
    assert held == capacity, got
    assert got[:7] == [a for a in got[:7] if a] and got[7:] == [None] * 5  # oldest first
    # every announcement of an assignment named the agent the conversation kept
    announced: dict[str, set[str]] = {}
    for c in frames:
        if c.get("assignee_id"):
            announced.setdefault(c["id"], set()).add(c["assignee_id"])
    final = dict(zip(ids, got, strict=True))
    assert all(names == {final[cid]} for cid, names in announced.items()), announced


async def test_a_conversation_taken_by_a_first_reply_counts_against_capacity(
    start_chat, bus: Bus, registry: WorkspaceRegistry
) -> None:
    await start_chat()
    c1, c2 = await conversations(bus, 2, "reply")
    agent = {"id": "ann", "name": "Ann", "avatar": None}
    await ask(bus, "agent.send", conversation_id=c1, agent=agent, client_msg_id="r-1", text="Hi")
    await becomes(bus, [c1, c2], ["ann", None])  # the first reply made it hers
    await edit(registry, route("least_busy", ann=1, bo=1))
    await arrive(bus, "ann")
    await asyncio.sleep(0.5)  # ten ticks: Ann is full with the one she took
    assert await assignees(bus, [c1, c2]) == ["ann", None]
    await arrive(bus, "bo")
    await becomes(bus, [c1, c2], ["ann", "bo"])


async def test_auto_assign_by_hand_respects_capacity_like_routing(
    start_chat, bus: Bus, registry: WorkspaceRegistry
) -> None:
    await start_chat()
    c1, c2, c3 = await conversations(bus, 3, "auto")
    await edit(registry, route("off", ann=1, bo=1))  # routing off: only the action assigns
    await arrive(bus, "ann")
    await arrive(bus, "bo")

    async def both_available() -> bool:
        return (await ask(bus, "presence.get"))["online_agents"] == 2

    await eventually(both_available)

    async def auto(cid: str) -> str | None:
        done = await ask(bus, "conversation.update", conversation_id=cid, assignee_id="auto")
        return done["assignee_id"]

    first, second = await auto(c1), await auto(c2)
    assert {first, second} == {"ann", "bo"}
    assert await auto(c3) is None  # both are full: it waits, nobody goes past capacity
    await ask(bus, "conversation.update", conversation_id=c1, status="resolved")
    assert await auto(c3) == first  # resolving made room again


async def test_a_slot_a_crashed_replica_never_claimed_heals(
    start_chat, bus: Bus, registry: WorkspaceRegistry, clock: Monotonic
) -> None:
    server = await start_chat()
    (c1,) = await conversations(bus, 1, "crash")
    # a replica took Ann's only slot for c1, then died before claiming it
    assert await server.app[CHAT].store.take_slot(WS, "ann", c1, 1)
    await edit(registry, route("round_robin", ann=1))
    await arrive(bus, "ann")
    await asyncio.sleep(1.0)  # many ticks: the slot still counts (a claim may be under way)
    assert await assignees(bus, [c1]) == [None]
    clock.at += STUCK_AFTER_SECONDS + 1  # unclaimed for longer than any claim takes
    await becomes(bus, [c1], ["ann"])
    held = await server.app[CHAT].store.slots_of(WS, ["ann"])
    assert held == {"ann": [c1]}  # given back, then taken again for the real claim

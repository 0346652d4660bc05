"""What visitors are told about presence: live, from chat, through every gateway socket.

Chat runs with short timers (agent TTL, duty tick) and a wall clock the test moves, so
heartbeat expiry and a business-hours boundary take a fraction of a second.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.chat.app import create_app as chat_app
from services.chat.presence import Presence
from shared.bus import Bus
from shared.settings import Settings
from shared.workspaces import Workspace, WorkspaceRegistry
from tests.integration.chat_support import WS, Frames, ask
from tests.integration.visitor_ws_client import Visitor
from tests.support import eventually

HEARTBEAT = {"workspace_id": WS, "avatar": None, "online": True}
MONDAY_BEFORE_FIVE = datetime(2026, 1, 5, 16, 59, 58, tzinfo=UTC)
NINE_TO_FIVE = {"timezone": "UTC", "days": {"mon": ["09:00", "17:00"]}}


class WallClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def wall() -> WallClock:
    return WallClock(MONDAY_BEFORE_FIVE)


@pytest.fixture
def start_chat(aiohttp_server, settings: Settings, wall: WallClock):
    async def start(ttl: float = 60.0, warmup: float = 0.0):
        presence = Presence(ttl=ttl, warmup=warmup, wall_clock=wall, sign_off_grace=0.3)
        return await aiohttp_server(chat_app(settings, presence=presence, tick=0.05))

    return start


@pytest.fixture
async def registry(bus: Bus) -> AsyncIterator[WorkspaceRegistry]:
    """The test's own view of the workspaces bucket: writes reach chat through its watch."""
    reg = WorkspaceRegistry(bus)
    await reg.start()
    yield reg
    await reg.stop()


async def heartbeat(bus: Bus, agent: str, online: bool = True) -> None:
    payload = {**HEARTBEAT, "agent_id": agent, "name": agent.title(), "online": online}
    await bus.publish(bus.subjects.request("chat", "agent.presence"), payload)


async def edit_workspace(registry: WorkspaceRegistry, **changes: Any) -> Workspace:
    await eventually(lambda: _has(registry))
    before = registry.get(WS)
    assert before is not None
    ws = dataclasses.replace(before, **changes)
    await registry.put(ws)
    return ws


async def _has(registry: WorkspaceRegistry) -> bool:
    return registry.get(WS) is not None


def counts(frames: Frames) -> list[int]:
    return [f["online_agents"] for f in frames.items]


async def counts_become(frames: Frames, expected: list[int], timeout: float = 10) -> None:
    async def reached() -> bool:
        return counts(frames) == expected

    await eventually(reached, timeout=timeout)


async def next_frame(frames: Frames, mark: int) -> dict[str, Any]:
    """The first frame published after `mark` frames had arrived."""

    async def arrived() -> bool:
        return len(frames.items) > mark

    await eventually(arrived)
    return frames.items[mark]


async def test_visitors_hear_the_first_agent_arrive_and_the_last_one_leave(
    start_chat, bus: Bus
) -> None:
    frames = await Frames.on(bus, bus.subjects.live_visitors(WS))
    await start_chat(ttl=2.0)
    # the first tick announces the picture: nobody yet
    await frames.wait_for(lambda f: f["online_agents"] == 0)

    await heartbeat(bus, "ann")
    first = await frames.wait_for(lambda f: f["online_agents"] == 1)
    assert first == {
        "type": "presence",
        "online_agents": 1,
        "agents": [{"name": "Ann", "avatar": None}],  # no agent ids reach visitors
        "away_message": first["away_message"],
        "open": True,
        "reply_minutes": None,  # no answered conversation in the last 7 days
    }
    await heartbeat(bus, "ann")  # a repeat changes nothing: no frame
    await heartbeat(bus, "bo")
    await frames.wait_for(lambda f: f["online_agents"] == 2)
    await heartbeat(bus, "ann")
    await heartbeat(bus, "bo", online=False)  # explicit sign-off
    await counts_become(frames, [0, 1, 2, 1])

    # Ann's heartbeats stop: she expires after the TTL and visitors hear it
    await counts_become(frames, [0, 1, 2, 1, 0])
    assert frames.items[-1]["agents"] == []


async def test_business_hours_closing_opening_and_edits_reach_visitors(
    start_chat, bus: Bus, registry: WorkspaceRegistry, wall: WallClock
) -> None:
    frames = await Frames.on(bus, bus.subjects.live_visitors(WS))
    await start_chat()
    await edit_workspace(registry, business_hours=NINE_TO_FIVE)
    await heartbeat(bus, "ann")
    await frames.wait_for(lambda f: f["online_agents"] == 1 and f["open"] is True)

    # 17:00 on the chat's clock: nothing else changes, the timer alone closes the widget
    wall.at = MONDAY_BEFORE_FIVE + timedelta(seconds=2)
    closed = await frames.wait_for(lambda f: f["open"] is False)
    assert closed["online_agents"] == 0 and closed["agents"] == []
    answer = await ask(bus, "presence.get")
    assert (answer["online_agents"], answer["agents"], answer["open"]) == (0, [], False)

    # an admin edits the away message: every widget gets the new text
    mark = len(frames.items)
    await edit_workspace(registry, away_message="Back Monday at 9")
    edited = await next_frame(frames, mark)
    assert (edited["away_message"], edited["online_agents"]) == ("Back Monday at 9", 0)

    # business hours switched off: always open, Ann is online again
    mark = len(frames.items)
    await edit_workspace(registry, business_hours={})
    reopened = await next_frame(frames, mark)
    assert reopened["open"] is True and reopened["online_agents"] == 1
    assert reopened["agents"] == [{"name": "Ann", "avatar": None}]
    answer = await ask(bus, "presence.get")
    assert answer["online_agents"] == 1 and answer["agents"][0]["id"] == "ann"


async def test_after_a_start_chat_waits_for_heartbeats_before_announcing_nobody(
    start_chat, bus: Bus
) -> None:
    frames = await Frames.on(bus, bus.subjects.live_visitors(WS))
    await start_chat(warmup=60.0)
    await asyncio.sleep(0.5)  # ten ticks: an empty picture right after a start is not news
    assert frames.items == []
    await heartbeat(bus, "ann")  # but an agent arriving is
    await frames.wait_for(lambda f: f["online_agents"] == 1)


async def test_every_socket_of_every_visitor_gets_presence_live_through_the_gateway(
    start_chat, start_service, bus: Bus, settings: Settings
) -> None:
    await start_chat()
    gateway = await start_service("gateway")
    sally = await Visitor.connect(gateway, settings.write_key)
    tom = await Visitor.connect(gateway, settings.write_key)
    tom_again = await Visitor.connect(gateway, settings.write_key, token=tom.welcome["token"])
    for v in (sally, tom, tom_again):
        hello = await v.wait_for(lambda f: f["type"] == "presence")
        assert hello["online_agents"] == 0 and hello["open"] is True

    await heartbeat(bus, "ann")
    for v in (sally, tom, tom_again):
        live = await v.wait_for(lambda f: f["type"] == "presence" and f["online_agents"] == 1)
        assert live["agents"] == [{"name": "Ann", "avatar": None}]

    # both of Tom's tabs close; Sally still hears Ann sign off
    await tom.close()
    await tom_again.close()
    await heartbeat(bus, "ann", online=False)

    async def sally_hears_it() -> bool:
        seen = [f["online_agents"] for f in sally.frames if f["type"] == "presence"]
        return seen == [0, 1, 0]

    await eventually(sally_hears_it)
    await sally.close()

"""Live frames to visitor sockets: one wildcard subscription per gateway, typed payloads.

Real gateways (two where it matters), a real nats-server, and chat's own publisher
(`services.chat.live.Live`) in the test's process standing in for chat's writes.
"""

from __future__ import annotations

import logging

import pytest

from services.chat.live import Live
from shared.bus import Bus
from shared.schema.live import Face, VisitorPresence, VisitorRead, VisitorTyping
from shared.settings import Settings
from shared.web import BUS
from tests.integration.chat_support import WS, Frames, conversation_of, visitor_says
from tests.integration.visitor_ws_client import Visitor

ANN = Face(name="Ann", avatar=None)


def _kinds(visitor: Visitor, kind: str) -> list[dict]:
    return visitor.matching(lambda f: f["type"] == kind)


async def test_a_visitors_tabs_on_two_gateways_get_its_frames_and_malformed_ones_are_dropped(
    start_service, bus: Bus, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="parley.gateway.hub")
    gateway_a = await start_service("gateway")
    gateway_b = await start_service("gateway")
    tab_a = await Visitor.connect(gateway_a, settings.write_key)
    tab_b = await Visitor.connect(gateway_b, settings.write_key, token=tab_a.welcome["token"])
    stranger = await Visitor.connect(gateway_a, settings.write_key)
    vid = tab_a.welcome["visitor_id"]
    subject = bus.subjects.live_visitor(WS, vid)

    await bus.publish(subject, {"type": "typing", "typing": "yes", "agent": {"name": "Ann"}})
    assert bus.nc is not None
    await bus.nc.publish(subject, b"not json")
    await bus.publish(subject, {"type": "unknown.kind"})
    internal = {
        "id": "m1",
        "conversation_id": "c1",
        "seq": 1,
        "client_msg_id": "x1",
        "author": {"kind": "agent", "id": "a", "name": "Ann", "avatar": None},
        "text": "internal note",
        "created_at": None,
        "internal": True,
    }
    await bus.publish(subject, {"type": "message", "message": internal})
    live = Live(bus)
    await live.to_visitor(WS, vid, VisitorTyping(typing=True, agent=ANN))
    await live.to_visitor(WS, vid, VisitorRead(conversation_id="c1", seq=3))

    for tab in (tab_a, tab_b):
        await tab.wait_for(lambda f: f["type"] == "read")
        assert _kinds(tab, "typing") == [
            {"type": "typing", "typing": True, "agent": {"name": "Ann", "avatar": None}}
        ]
        assert _kinds(tab, "read") == [{"type": "read", "conversation_id": "c1", "seq": 3}]
        assert _kinds(tab, "message") == [], "an internal note never reaches a visitor"
    assert _kinds(stranger, "typing") == _kinds(stranger, "read") == []
    dropped = [r for r in caplog.records if r.getMessage() == "malformed live frame dropped"]
    assert len(dropped) == 6, "three malformed frames, dropped by each gateway holding a tab"
    for visitor in (tab_a, tab_b, stranger):
        await visitor.close()


async def test_presence_reaches_every_socket_of_the_workspace_on_each_gateway(
    start_service, bus: Bus, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="parley.gateway.hub")
    gateway_a = await start_service("gateway")
    gateway_b = await start_service("gateway")
    visitors = [
        await Visitor.connect(gateway_a, settings.write_key),
        await Visitor.connect(gateway_a, settings.write_key),
        await Visitor.connect(gateway_b, settings.write_key),
    ]
    feed = bus.subjects.live_visitors(WS)
    six = [{"name": str(n), "avatar": None} for n in range(6)]  # over the five faces shown
    bad = {"type": "presence", "online_agents": 6, "agents": six, "away_message": None}
    await bus.publish(feed, {**bad, "open": True})
    await bus.publish(feed, {"type": "presence", "online_agents": "1"})
    good = VisitorPresence(online_agents=1, agents=[ANN], away_message="Back soon", open=True)
    await Live(bus).to_visitors(WS, good)

    expected = {
        "type": "presence",
        "online_agents": 1,
        "agents": [{"name": "Ann", "avatar": None}],
        "away_message": "Back soon",
        "open": True,
        "reply_minutes": None,
    }
    for visitor in visitors:
        await visitor.wait_for(lambda f: f == expected)
        assert _kinds(visitor, "presence") == [expected]
    dropped = [r for r in caplog.records if r.getMessage() == "malformed live frame dropped"]
    assert len(dropped) == 4, "two malformed presence frames, dropped by each gateway"
    for visitor in visitors:
        await visitor.close()


async def test_a_gateway_subscribes_once_however_many_visitors_it_holds(
    start_service, bus: Bus, settings: Settings
) -> None:
    gateway = await start_service("gateway")
    nc = gateway.app[BUS].nc
    before = len(nc._subs)
    visitors = [await Visitor.connect(gateway, settings.write_key) for _ in range(12)]
    assert len(nc._subs) == before, "no NATS subscription per visitor"

    seventh = visitors[7].welcome["visitor_id"]
    await Live(bus).to_visitor(WS, seventh, VisitorRead(conversation_id="c7", seq=1))
    await visitors[7].wait_for(lambda f: f["type"] == "read")
    await visitors[8].send({"type": "ping"})
    await visitors[8].wait_for(lambda f: f["type"] == "pong")
    assert [v for v in visitors if _kinds(v, "read")] == [visitors[7]]
    for visitor in visitors:
        await visitor.close()
    assert len(nc._subs) == before


async def test_chat_drops_a_malformed_visitor_signal_and_takes_the_next(
    start_service, bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="parley.chat.signals")
    await start_service("chat")
    await visitor_says(bus, "v-sig", "hello")
    cid = (await conversation_of(bus, "v-sig"))["conversation_id"]
    agents = await Frames.on(bus, bus.subjects.live_agents(WS))
    signal = bus.subjects.request("chat", "visitor.signal")
    base = {"workspace_id": WS, "visitor_id": "v-sig"}
    await bus.publish(signal, {**base, "type": "typing", "typing": "yes"})
    await bus.publish(signal, {**base, "type": "read", "seq": -1})
    await bus.publish(signal, {"type": "typing", "workspace_id": WS, "visitor_id": " "})
    await bus.publish(signal, {**base, "type": "typing", "typing": True})

    typing = await agents.wait_for(lambda f: f["type"] == "typing")
    assert (typing["conversation_id"], typing["typing"]) == (cid, True)
    assert agents.matching(lambda f: f["type"] in ("typing", "visitor.read")) == [typing]
    dropped = [r for r in caplog.records if r.getMessage() == "malformed visitor signal dropped"]
    assert len(dropped) == 3


async def test_chat_drops_malformed_agent_typing_and_presence_and_takes_the_next(
    start_service, bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="parley.chat.signals")
    await start_service("chat")
    await visitor_says(bus, "v-agent", "hello")
    cid = (await conversation_of(bus, "v-agent"))["conversation_id"]
    visitor = await Frames.on(bus, bus.subjects.live_visitor(WS, "v-agent"))
    agents = await Frames.on(bus, bus.subjects.live_agents(WS))
    typing = bus.subjects.request("chat", "agent.typing")
    ann = {"id": "agent-ann", "name": "Ann", "avatar": None}
    await bus.publish(typing, {"workspace_id": WS, "conversation_id": cid, "typing": True})
    await bus.publish(
        typing, {"workspace_id": WS, "conversation_id": cid, "agent": {"name": "x"}, "typing": 1}
    )
    presence = bus.subjects.request("chat", "agent.presence")
    await bus.publish(presence, {"workspace_id": WS, "agent_id": "undefined", "online": True})
    await bus.publish(
        typing, {"workspace_id": WS, "conversation_id": cid, "agent": ann, "typing": True}
    )
    await bus.publish(presence, {"workspace_id": WS, "agent_id": "agent-ann", "name": "Ann"})

    frame = await visitor.wait_for(lambda f: f["type"] == "typing")
    assert frame == {"type": "typing", "typing": True, "agent": {"name": "Ann", "avatar": None}}
    online = await agents.wait_for(lambda f: f["type"] == "presence")
    assert [a["id"] for a in online["agents"]] == ["agent-ann"], "the placeholder id is refused"
    assert len(visitor.matching(lambda f: f["type"] == "typing")) == 1
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert sorted(dropped) == ["malformed agent presence dropped"] + 2 * [
        "malformed agent typing dropped"
    ]

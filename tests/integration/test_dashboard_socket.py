"""The agent websocket: who may open it, live frames out, typing and presence in."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from shared.bus import Bus
from tests.integration.chat_support import WS, Frames, conversation_of, visitor_says
from tests.integration.dashboard_support import signed_in_client


@pytest.fixture
async def agent(start_service, aiohttp_client):
    return await signed_in_client(start_service, aiohttp_client, "chat")


def origin(client) -> str:
    return str(client.make_url("/")).rstrip("/")


async def open_socket(client) -> aiohttp.ClientWebSocketResponse:
    ws = await client.ws_connect(f"/ws?csrf={client.csrf}", headers={"Origin": origin(client)})
    hello = await ws.receive_json(timeout=5)
    assert hello["type"] == "hello"
    return ws


async def next_frame(ws, kind: str, timeout: float = 10) -> dict:
    async def wait() -> dict:
        while True:
            frame = await ws.receive_json()
            if frame.get("type") == kind:
                return frame

    return await asyncio.wait_for(wait(), timeout)


async def test_socket_refuses_other_origins_missing_token_and_strangers(
    agent, aiohttp_client
) -> None:
    """Cross-site websocket hijacking: the cookie alone never opens the socket."""
    for headers, query in (
        ({"Origin": "https://evil.example"}, f"?csrf={agent.csrf}"),
        ({}, f"?csrf={agent.csrf}"),
        ({"Origin": origin(agent)}, "?csrf=wrong"),
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await agent.ws_connect("/ws" + query, headers=headers)
        assert refused.value.status == 403
    stranger = await aiohttp_client(agent.server)
    with pytest.raises(aiohttp.WSServerHandshakeError) as anonymous:
        await stranger.ws_connect("/ws", headers={"Origin": origin(agent)})
    assert anonymous.value.status == 401


async def test_a_visitor_message_arrives_live_with_who_the_person_is(agent, bus: Bus) -> None:
    ws = await open_socket(agent)
    await visitor_says(bus, "v-live", "<b>hi</b> there")
    frame = await next_frame(ws, "message")
    assert frame["message"]["text"] == "<b>hi</b> there"
    assert frame["conversation"]["person"]["label"] == "Visitor v-live"
    assert frame["conversation"]["person"]["stage"] == "visitor"
    await ws.close()


async def test_typing_from_the_page_reaches_the_visitor_through_chat(agent, bus: Bus) -> None:
    await visitor_says(bus, "v-t", "hello")
    cid = (await conversation_of(bus, "v-t"))["conversation_id"]
    to_visitor = await Frames.on(bus, bus.subjects.live_visitor(WS, "v-t"))
    ws = await open_socket(agent)
    await ws.send_str(json.dumps({"type": "typing", "conversation_id": cid, "typing": True}))
    frame = await to_visitor.wait_for(lambda f: f.get("type") == "typing")
    assert frame["typing"] is True and frame["agent"]["name"] == "Admin"
    await ws.close()


async def test_presence_goes_online_with_the_socket_and_offline_when_it_closes(
    agent, bus: Bus
) -> None:
    heartbeats = await Frames.on(bus, bus.subjects.request("chat", "agent.presence"))
    ws = await open_socket(agent)
    online = await heartbeats.wait_for(lambda f: f["online"] is True)
    assert online["workspace_id"] == WS and online["name"] == "Admin"
    await ws.close()
    await heartbeats.wait_for(lambda f: f["online"] is False)


async def closed(ws) -> aiohttp.WSMessage:
    """The first message that is not a live frame (chat's presence frames may come first)."""
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return msg


async def test_signing_out_closes_the_agents_sockets(agent) -> None:
    ws = await open_socket(agent)
    await agent.post("/logout", data={"csrf": agent.csrf}, allow_redirects=False)
    msg = await closed(ws)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == 1008


async def test_oversized_frames_close_the_socket(agent) -> None:
    ws = await open_socket(agent)
    await ws.send_str("x" * 10_000)
    msg = await closed(ws)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == 1009  # message too big

"""The gateway's visitor socket against the real chat service, NATS and database."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from typing import Any

import aiohttp
import pytest

from services.gateway.app import create_app
from services.gateway.visitor.limits import LIMITS, Limits
from shared.bus import Bus
from shared.security import sign_token, user_hash, verify_token
from shared.settings import Settings
from tests.integration.visitor_ws_client import Visitor
from tests.integration.widget_bus import agent_says, stream_events
from tests.support import eventually


@pytest.fixture
async def chat(start_service):
    return await start_service("chat")


@pytest.fixture
async def gateway(start_service):
    return await start_service("gateway")


@pytest.fixture
def gateway_with(aiohttp_server, settings: Settings):
    async def start(settings: Settings = settings, **limits: Any):
        app = create_app(settings)
        app[LIMITS] = Limits(**limits)
        return await aiohttp_server(app)

    return start


async def test_first_boot_mints_a_visitor_and_the_token_brings_it_back(
    gateway, settings: Settings
) -> None:
    first = await Visitor.connect(gateway, settings.write_key)
    welcome = first.welcome
    claims = verify_token(settings.token_secret, welcome["token"])
    assert claims is not None
    assert claims["vid"] == welcome["visitor_id"] == welcome["distinct_id"]
    assert claims["ws"] == "default"
    await first.close()

    again = await Visitor.connect(gateway, settings.write_key, token=welcome["token"])
    assert again.welcome["visitor_id"] == welcome["visitor_id"]
    await again.close()

    forged = sign_token("not-the-secret", {"ws": "default", "vid": welcome["visitor_id"]})
    stranger = await Visitor.connect(gateway, settings.write_key, token=forged)
    assert stranger.welcome["visitor_id"] != welcome["visitor_id"]
    await stranger.close()


async def test_a_visitor_chats_with_an_agent_and_history_comes_back(
    chat, gateway, bus: Bus, settings: Settings
) -> None:
    sally = await Visitor.connect(gateway, settings.write_key)
    cmid = await sally.say("Hello, is anyone there?")
    await sally.wait_for(lambda f: f["type"] == "accepted" and f["ref"] == cmid)
    mine = await sally.wait_for(lambda f: f["type"] == "message")
    assert mine["message"]["client_msg_id"] == cmid
    assert mine["message"]["seq"] == 1

    await agent_says(bus, mine["message"]["conversation_id"], "Hi Sally, Ann here", "a-1")
    reply = await sally.wait_for(lambda f: f["type"] == "message" and f["message"]["seq"] == 2)
    assert reply["message"]["author"]["name"] == "Ann"
    await sally.close()

    back = await Visitor.connect(gateway, settings.write_key, token=sally.welcome["token"])
    history = await back.wait_for(lambda f: f["type"] == "history")
    assert [m["text"] for m in history["messages"]] == [
        "Hello, is anyone there?",
        "Hi Sally, Ann here",
    ]
    await back.close()


async def test_reconnect_resyncs_only_what_came_after_the_last_seq(
    chat, gateway, bus: Bus, settings: Settings
) -> None:
    sally = await Visitor.connect(gateway, settings.write_key)
    await sally.say("one")
    first = await sally.wait_for(lambda f: f["type"] == "message")
    cid = first["message"]["conversation_id"]
    await sally.close()
    for n in range(2, 5):  # the agent writes while the visitor is away
        await agent_says(bus, cid, f"reply {n}", f"a-{n}")

    back = await Visitor.connect(
        gateway, settings.write_key, token=sally.welcome["token"], last_seq=1
    )
    history = await back.wait_for(lambda f: f["type"] == "history")
    assert history["after_seq"] == 1
    assert [m["seq"] for m in history["messages"]] == [2, 3, 4]
    await back.close()


async def test_history_says_how_far_an_agent_has_read(
    chat, gateway, bus: Bus, settings: Settings
) -> None:
    sally = await Visitor.connect(gateway, settings.write_key)
    await sally.say("one")
    await sally.say("two")
    await sally.wait_for(lambda f: f["type"] == "message" and f["message"]["seq"] == 2)
    cid = sally.messages()[0]["conversation_id"]
    first = sally.matching(lambda f: f["type"] == "history")
    assert first and first[0]["agent_read_seq"] == 0, "a new visitor: nothing read yet"

    async def mark(agent_id: str, seq: int) -> None:
        await bus.request(
            bus.subjects.request("chat", "conversation.read"),
            {"workspace_id": "default", "conversation_id": cid, "agent_id": agent_id, "seq": seq},
        )

    await mark("agent-ann", 2)
    await mark("agent-bo", 1)  # another agent behind: the furthest mark counts
    await sally.wait_for(lambda f: f["type"] == "read" and f["seq"] == 2)
    await sally.close()

    back = await Visitor.connect(gateway, settings.write_key, token=sally.welcome["token"])
    history = await back.wait_for(lambda f: f["type"] == "history")
    assert history["agent_read_seq"] == 2
    await back.send({"type": "resync", "after_seq": 2})
    resync = await back.wait_for(lambda f: f["type"] == "history" and f["after_seq"] == 2)
    assert (resync["messages"], resync["agent_read_seq"]) == ([], 2)
    await back.close()


async def test_two_gateways_talk_through_nats(
    chat, start_service, bus: Bus, settings: Settings
) -> None:
    gateway_a = await start_service("gateway")
    gateway_b = await start_service("gateway")
    tab_a = await Visitor.connect(gateway_a, settings.write_key)
    tab_b = await Visitor.connect(gateway_b, settings.write_key, token=tab_a.welcome["token"])

    await tab_b.say("written on gateway B")
    seen_on_a = await tab_a.wait_for(lambda f: f["type"] == "message")
    assert seen_on_a["message"]["text"] == "written on gateway B"

    await agent_says(bus, seen_on_a["message"]["conversation_id"], "agent reply", "a-x")
    for tab in (tab_a, tab_b):
        await tab.wait_for(
            lambda f: f["type"] == "message" and f["message"]["text"] == "agent reply"
        )
    await tab_a.close()
    await tab_b.close()


async def test_a_visitor_never_sees_another_visitors_conversation(
    chat, gateway, settings: Settings
) -> None:
    sally = await Visitor.connect(gateway, settings.write_key)
    await sally.say("my secret order number 1234")
    await sally.wait_for(lambda f: f["type"] == "message")
    mallory = await Visitor.connect(gateway, settings.write_key)
    await mallory.send({"type": "resync", "after_seq": 0})
    await mallory.send({"type": "ping"})
    await mallory.wait_for(lambda f: f["type"] == "pong")
    await eventually(lambda: _async(len(mallory.matching(lambda f: f["type"] == "history")) >= 2))
    assert mallory.messages() == []
    await sally.close()
    await mallory.close()


async def _async(value: bool) -> bool:
    return value


async def test_the_origin_must_be_on_the_allow_list(start_service, settings: Settings) -> None:
    strict = settings.with_changes(allowed_origins=("https://shop.example",))
    gateway = await start_service("gateway", settings=strict)
    visitor = await Visitor.connect(gateway, strict.write_key, origin="https://shop.example")
    await visitor.close()
    # refused inside the socket (a browser cannot read a refused handshake): one error
    # frame naming the cause and the setting, then a permanent-refusal close code
    for key, origin, code, close_code, words in (
        (strict.write_key, "https://evil.example", "bad_origin", 4003, "https://evil.example"),
        ("wk_wrong", "https://shop.example", "bad_key", 4001, "wk_wrong"),
    ):
        refused = await Visitor.connect(gateway, key, origin=origin, hello=False)
        await refused.closed.wait()
        await refused.close()
        assert [f["code"] for f in refused.frames] == [code]
        assert words in refused.frames[0]["message"] and "Settings" in refused.frames[0]["message"]
        assert refused.ws.close_code == close_code
    # a plain HTTP request still gets the 403 answer
    async with aiohttp.ClientSession() as http:
        async with http.get(
            gateway.make_url("/v1/widget/ws?key=wk_wrong"), headers={"Origin": "https://x.example"}
        ) as response:
            assert (response.status, (await response.json())["code"]) == (403, "bad_key")


async def test_bad_frames_get_errors_and_the_socket_stays_up(
    gateway_with, settings: Settings
) -> None:
    gateway = await gateway_with(soft_frame_bytes=1024, hard_frame_bytes=4096)
    visitor = await Visitor.connect(gateway, settings.write_key)
    await visitor.ws.send_str("{not json")
    await visitor.send({"type": "launch_missiles"})
    await visitor.say("x" * 2000, client_msg_id="too-big-1")
    await visitor.send({"type": "message", "client_msg_id": "bad id!", "text": "hi"})
    await visitor.send({"type": "ping"})
    await visitor.wait_for(lambda f: f["type"] == "pong")
    # (no chat service runs here: the hello's history answers "unavailable")
    codes = [
        f["code"] for f in visitor.frames if f["type"] == "error" and f.get("ref") != "history"
    ]
    assert codes == ["bad_frame", "unknown_type", "too_large", "invalid"]
    assert not visitor.ws.closed
    # past the hard limit aiohttp refuses to read the frame at all and closes
    await visitor.ws.send_str(json.dumps({"type": "message", "text": "y" * 5000}))
    await visitor.closed.wait()
    assert visitor.ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    await visitor.close()


async def test_over_rate_gets_an_error_then_continued_abuse_closes(
    gateway_with, settings: Settings
) -> None:
    gateway = await gateway_with(frames_burst=3, frames_per_second=0.1, strikes_burst=3)
    visitor = await Visitor.connect(gateway, settings.write_key)
    for _ in range(4):
        await visitor.send({"type": "ping"})
    limited = await visitor.wait_for(lambda f: f.get("code") == "rate_limited")
    assert limited["retry_after"] > 0
    assert len(visitor.matching(lambda f: f["type"] == "pong")) == 3
    assert not visitor.ws.closed
    for _ in range(5):
        await visitor.send({"type": "ping"})
    await visitor.closed.wait()
    assert visitor.matching(lambda f: f.get("code") == "closing")
    assert visitor.ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    await visitor.close()


async def test_connections_per_ip_are_capped(gateway_with, settings: Settings) -> None:
    gateway = await gateway_with(connections_per_ip=2)
    first = await Visitor.connect(gateway, settings.write_key)
    second = await Visitor.connect(gateway, settings.write_key)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await Visitor.connect(gateway, settings.write_key)
    assert refused.value.status == 429
    await first.close()
    third = await Visitor.connect(gateway, settings.write_key)
    await second.close()
    await third.close()


async def test_identify_needs_a_valid_user_hash_where_the_workspace_enforces_it(
    start_service, bus: Bus, settings: Settings
) -> None:
    strict = settings.with_changes(enforce_identity_verification=True)
    gateway = await start_service("gateway", settings=strict)
    visitor = await Visitor.connect(gateway, strict.write_key)
    await visitor.send(
        {"type": "identify", "message_id": "ident-bad1", "user_id": "u-42", "user_hash": "00"}
    )
    refused = await visitor.wait_for(lambda f: f.get("ref") == "ident-bad1")
    assert (refused["type"], refused["code"]) == ("error", "unverified")

    good = user_hash(strict.identity_secret, "u-42")
    await visitor.send(
        {
            "type": "identify",
            "message_id": "ident-good",
            "user_id": "u-42",
            "user_hash": good,
            "traits": {"email": "sally@example.com"},
        }
    )
    ok = await visitor.wait_for(lambda f: f["type"] == "ok" and f["ref"] == "ident-good")
    claims = verify_token(strict.token_secret, ok["token"])
    assert claims is not None and claims["uid"] == "u-42"
    await visitor.send({"type": "track", "message_id": "track-0001", "event": "Upgraded"})
    await visitor.wait_for(lambda f: f["type"] == "ok" and f["ref"] == "track-0001")

    identifies = await stream_events(bus, "identify")
    assert len(identifies) == 1
    assert identifies[0]["user_id"] == "u-42"
    assert identifies[0]["anonymous_id"] == visitor.welcome["distinct_id"]
    assert identifies[0]["trusted"] is True
    assert identifies[0]["source"] == "widget"
    tracks = await stream_events(bus, "track")
    assert tracks[0]["user_id"] == "u-42"
    await visitor.close()


async def test_the_email_prompt_makes_an_email_event_and_a_chat_record(
    chat, gateway, bus: Bus, settings: Settings
) -> None:
    visitor = await Visitor.connect(gateway, settings.write_key)
    await visitor.send({"type": "email", "client_msg_id": "email-0001", "email": "nope"})
    bad = await visitor.wait_for(lambda f: f["type"] == "error")
    assert bad["code"] == "bad_email"
    await visitor.send(
        {"type": "email", "client_msg_id": "email-0002", "email": " Sally@Example.COM "}
    )
    await visitor.wait_for(lambda f: f["type"] == "accepted" and f["ref"] == "email-0002")
    contact = await visitor.wait_for(lambda f: f["type"] == "contact" and f["email"])
    assert contact["email"] == "sally@example.com"  # the stored form, for every tab
    emails = await stream_events(bus, "email")
    assert [(e["email"], e["anonymous_id"]) for e in emails] == [
        ("sally@example.com", visitor.welcome["distinct_id"])
    ]
    await visitor.close()


async def test_visitor_typing_reaches_the_agents(
    chat, gateway, bus: Bus, settings: Settings
) -> None:
    from tests.integration.chat_support import Frames

    agents = await Frames.on(bus, bus.subjects.live_agents("default"))
    visitor = await Visitor.connect(gateway, settings.write_key)
    await visitor.say("hello")
    await visitor.wait_for(lambda f: f["type"] == "message")
    await visitor.send({"type": "typing", "typing": True})
    typing = await agents.wait_for(lambda f: f["type"] == "typing")
    assert typing["visitor_id"] == visitor.welcome["visitor_id"]
    assert typing["typing"] is True
    await visitor.close()


async def test_a_browser_leaving_mid_handshake_is_not_logged_as_an_error(
    gateway, settings: Settings, caplog
) -> None:
    """parley.reset() or a page leaving closes a socket still connecting: routine, not a 500."""
    handshake = (
        f"GET /v1/widget/ws?key={settings.write_key} HTTP/1.1\r\n"
        f"Host: {gateway.host}:{gateway.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    with caplog.at_level("WARNING"):
        for _ in range(5):
            _, writer = await asyncio.open_connection(gateway.host, gateway.port)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.write(handshake)
            await writer.drain()
            writer.transport.abort()  # a reset, as a browser gives up
        visitor = await Visitor.connect(gateway, settings.write_key)  # still serving
        await visitor.close()
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


@pytest.mark.parametrize("origin", [None, "https://shop.example"])
async def test_the_widget_socket_never_trusts_an_identify_without_a_user_hash(
    start_service, bus: Bus, settings: Settings, origin: str | None
) -> None:
    """With or without an Origin header the socket is a browser: the write key proves nothing."""
    strict = settings.with_changes(enforce_identity_verification=True)
    gateway = await start_service("gateway", settings=strict)
    async with aiohttp.ClientSession() as session:
        headers = {"Origin": origin} if origin else {}
        ws = await session.ws_connect(
            gateway.make_url(f"/v1/widget/ws?key={strict.write_key}"), headers=headers
        )
        await ws.send_json({"type": "hello", "token": None})
        await ws.send_json({"type": "identify", "message_id": "ident-0001", "user_id": "u-victim"})
        while (frame := await ws.receive_json(timeout=5)).get("ref") != "ident-0001":
            pass
        assert (frame["type"], frame["code"]) == ("error", "unverified")
        await ws.close()
    assert await stream_events(bus, "identify") == []


def _deep(levels: int, kind: str = "track") -> str:
    """A frame nested `levels` deep in one byte a level (3,000 fit the 16 KiB limit)."""
    nested = "[" * levels + "]" * levels
    return f'{{"type": "{kind}", "message_id": "deep-0001", "event": "e", "properties": {nested}}}'


async def _raw_socket(gateway, key: str):
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(
        gateway.make_url(f"/v1/widget/ws?key={key}"), headers={"Origin": "http://shop.example"}
    )
    return session, ws


async def _frames_until_closed(ws) -> list[dict]:
    got = []
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            got.append(json.loads(msg.data))
    return got


@pytest.mark.parametrize(
    ("first", "code"),
    [
        (b'{"type": "hello"}', "hello_required"),  # binary, even if it reads as a hello
        (_deep(3000), "too_deep"),
        (_deep(40, "hello"), "too_deep"),
        ('{"type": "hello", "token": "\\ud800"}', "bad_text"),
        ('{"type": "message", "client_msg_id": "m-000001", "text": "hi"}', "hello_required"),
        # a hello is read as its type (shared/schema/frames.HelloFrame), not field by field
        ('{"type": "hello", "last_seq": "12"}', "invalid"),
        ('{"type": "hello", "last_seq": -1}', "invalid"),
        ('{"type": "hello", "page": "https://example.com"}', "invalid"),
        ('{"type": "hello", "token": 42}', "invalid"),
    ],
)
async def test_a_bad_first_frame_gets_an_error_and_close_1008(
    gateway, settings: Settings, caplog, first, code: str
) -> None:
    session, ws = await _raw_socket(gateway, settings.write_key)
    with caplog.at_level("WARNING"):
        if isinstance(first, bytes):
            await ws.send_bytes(first)
        else:
            await ws.send_str(first)
        frames = await _frames_until_closed(ws)
    await session.close()
    assert [(f["type"], f["code"]) for f in frames] == [("error", code)]
    assert ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


async def test_hostile_frames_get_an_error_frame_and_the_socket_stays_up(
    gateway_with, bus: Bus, settings: Settings, caplog
) -> None:
    gateway = await gateway_with()
    visitor = await Visitor.connect(gateway, settings.write_key)
    hostile = [
        (_deep(3000), "too_deep"),  # past the JSON parser: used to be a RecursionError
        (_deep(40), "too_deep"),
        ('{"type": "message", "client_msg_id": "surr-0001", "text": "hi \\ud800"}', "bad_text"),
        (
            '{"type": "track", "message_id": "nan-00001", "event": "e", "properties": {"x": NaN}}',
            "bad_number",
        ),
        (
            json.dumps(
                {
                    "type": "identify",
                    "message_id": "big-00001",
                    "user_id": "u-1",
                    "traits": {"n": 2**70},
                }
            ),
            "bad_number",
        ),
    ]
    with caplog.at_level("WARNING"):
        for text, _ in hostile:
            await visitor.ws.send_str(text)
        await visitor.ws.send_bytes(b"\x00\x01")
        await visitor.send({"type": "ping"})
        await visitor.wait_for(lambda f: f["type"] == "pong")
    errors = [
        f["code"] for f in visitor.frames if f["type"] == "error" and f.get("ref") != "history"
    ]
    assert errors == [code for _, code in hostile] + ["bad_frame"]
    assert not visitor.matching(lambda f: f["type"] in ("accepted", "ok"))
    assert not visitor.ws.closed
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
    assert await stream_events(bus, "identify") == [] and await stream_events(bus, "track") == []
    await visitor.close()

"""Continue links at the gateway (`/c/<token>` and the socket's `continue_token` hello),
against the real chat service, NATS and database: the link grants one conversation,
nothing else, and a bad link is refused with a page or a frame that says so."""

from __future__ import annotations

import asyncio

import aiohttp

from shared.bus import Bus
from shared.continuity import ContinueGrant, continue_link_token
from shared.security import sign_token
from shared.settings import Settings
from tests.integration.chat_support import Frames
from tests.integration.visitor_ws_client import Visitor
from tests.integration.widget_bus import agent_says, stream_events

WS = "default"


def link_for(settings: Settings, conversation_id: str, ttl_s: int = 3600) -> str:
    return continue_link_token(settings.token_secret, ContinueGrant(WS, conversation_id), ttl_s)


async def chatting(gateway, settings: Settings, text: str) -> tuple[Visitor, str]:
    """A visitor with a stored first message: (their socket, their conversation id)."""
    visitor = await Visitor.connect(gateway, settings.write_key)
    await visitor.say(text)
    mine = await visitor.wait_for(lambda f: f["type"] == "message")
    return visitor, mine["message"]["conversation_id"]


def texts(messages: list[dict]) -> list[str]:
    return [m["text"] for m in messages]


async def test_a_continue_link_opens_that_conversation_and_nothing_else(
    chat, gateway, bus: Bus, settings: Settings
) -> None:
    agents = await Frames.on(bus, bus.subjects.live_agents(WS))
    sally, sally_cid = await chatting(gateway, settings, "Hello, my invoice is wrong")
    await agent_says(bus, sally_cid, "Sorry! Fixing it now", "a-1")
    await sally.wait_for(lambda f: f["type"] == "message" and f["message"]["seq"] == 2)
    # the device that opens the link already is another visitor, with a conversation of its own
    bob, bob_cid = await chatting(gateway, settings, "Bob's own question")
    bob_token = bob.welcome["token"]
    await bob.close()

    linked = await Visitor.connect(
        gateway, settings.write_key, token=bob_token, continue_token=link_for(settings, sally_cid)
    )
    welcome = linked.welcome
    assert welcome["grant"] == {"conversation_id": sally_cid}
    assert welcome["token"] is None and welcome["visitor_id"] is None
    assert welcome["distinct_id"] is None and welcome["user_id"] is None
    history = await linked.wait_for(lambda f: f["type"] == "history")
    assert history["conversation_id"] == sally_cid
    assert texts(history["messages"]) == ["Hello, my invoice is wrong", "Sorry! Fixing it now"]

    # a message typed there lands in Sally's conversation, live for the agent and Sally's tab
    cmid = await linked.say("Thanks, it's right now. Write to me at other@example.com")
    await linked.wait_for(lambda f: f["type"] == "accepted" and f["ref"] == cmid)
    seen = await agents.wait_for(
        lambda f: f["type"] == "message" and f["message"]["client_msg_id"] == cmid
    )
    assert seen["message"]["conversation_id"] == sally_cid
    await sally.wait_for(lambda f: f["type"] == "message" and f["message"]["seq"] == 3)
    await agent_says(bus, sally_cid, "Glad to help", "a-2")
    await linked.wait_for(lambda f: f["type"] == "message" and f["message"]["seq"] == 4)

    # the person is not the link's to change: identity frames are refused
    for frame in (
        {"type": "identify", "message_id": "m-identify-1", "user_id": "mallory", "traits": {}},
        {"type": "alias", "message_id": "m-alias-0001", "user_id": "mallory"},
        {"type": "email", "client_msg_id": "c-email-0001", "email": "mallory@example.com"},
        {"type": "track", "message_id": "m-track-0001", "event": "Upgraded"},
        {"type": "page", "message_id": "m-page-00001", "url": "https://x.example/"},
    ):
        await linked.send(frame)
    await linked.wait_for(
        lambda f: f["type"] == "error" and f["code"] == "not_granted" and f["ref"] == "m-page-00001"
    )
    refused = linked.matching(lambda f: f["type"] == "error" and f["code"] == "not_granted")
    assert len(refused) == 5
    await asyncio.sleep(0.5)  # anything published would be on the streams by now
    assert await stream_events(bus, "identify") == []
    assert await stream_events(bus, "alias") == []
    assert await stream_events(bus, "email") == []  # the address in the message is not read
    conversation = await bus.request(
        bus.subjects.request("chat", "conversation.get"),
        {"workspace_id": WS, "conversation_id": sally_cid},
    )
    assert conversation["conversation"]["email"] is None
    await linked.close()

    # Bob's own conversation and visitor are untouched: nothing merged, nothing moved
    bob_again = await Visitor.connect(gateway, settings.write_key, token=bob_token)
    assert bob_again.welcome["visitor_id"] == bob.welcome["visitor_id"]
    bob_history = await bob_again.wait_for(lambda f: f["type"] == "history")
    assert bob_history["conversation_id"] == bob_cid
    assert texts(bob_history["messages"]) == ["Bob's own question"]
    await bob_again.close()
    await sally.close()


async def test_a_bad_continue_link_is_refused_in_the_socket(
    chat, gateway, bus: Bus, settings: Settings
) -> None:
    sally, cid = await chatting(gateway, settings, "hello")
    await sally.close()
    bad_links = {
        "forged": continue_link_token("not-the-secret", ContinueGrant(WS, cid)),
        "expired": link_for(settings, cid, ttl_s=-5),
        "a visitor token": sally.welcome["token"],
        "another workspace": continue_link_token(
            settings.token_secret, ContinueGrant("other-ws", cid)
        ),
        "no such conversation": link_for(settings, "0123456789abcdef01234567"),
        "not a token": "garbage",
    }
    for why, token in bad_links.items():
        visitor = await Visitor.connect(gateway, settings.write_key, continue_token=token)
        await asyncio.wait_for(visitor.closed.wait(), 5)
        assert [f["type"] for f in visitor.frames] == ["error"], why
        assert visitor.frames[0]["code"] == "link_expired", why
        assert visitor.ws.close_code == 4010, why
        await visitor.close()


async def test_the_continue_page_opens_the_widget_or_says_the_link_expired(
    chat, gateway, settings: Settings
) -> None:
    sally, cid = await chatting(gateway, settings, "hello")
    await sally.close()
    good = link_for(settings, cid)
    expired = link_for(settings, cid, ttl_s=-5)
    forged = sign_token("not-the-secret", {"typ": "continue", "ws": WS, "conv": cid})
    async with aiohttp.ClientSession() as http:
        async with http.get(gateway.make_url(f"/c/{good}")) as page:
            assert page.status == 200
            html = await page.text()
            assert page.headers["Cache-Control"] == "no-store"
            assert page.headers["Referrer-Policy"] == "no-referrer"
            assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
        assert f'"continueToken": "{good}"' in html
        assert settings.write_key in html
        for token in (expired, forged, "x" * 40):
            async with http.get(gateway.make_url(f"/c/{token}")) as page:
                assert page.status == 410
                assert page.content_type == "text/html"
                text = await page.text()
            assert "This link has expired" in text
            assert "start a new chat" in text
            assert "continueToken" not in text and "Traceback" not in text


async def test_a_continue_link_while_chat_is_down_says_try_again_not_expired(
    gateway, settings: Settings
) -> None:
    token = link_for(settings, "0123456789abcdef01234567")  # valid: chat could not be asked
    async with aiohttp.ClientSession() as http:
        async with http.get(gateway.make_url(f"/c/{token}")) as page:
            assert page.status == 503
            text = await page.text()
    assert "unavailable right now" in text and "expired" not in text
    visitor = await Visitor.connect(gateway, settings.write_key, continue_token=token)
    await asyncio.wait_for(visitor.closed.wait(), 10)
    assert [(f["type"], f["code"]) for f in visitor.frames] == [("error", "unavailable")]
    assert visitor.ws.close_code == 1013  # transient: the widget reconnects with backoff
    await visitor.close()

"""The `contact` frame: the visitor socket says which address we will email, so the widget
confirms it instead of asking (real gateway, chat, identity, NATS and database)."""

from __future__ import annotations

import asyncio

from shared.continuity import ContinueGrant, continue_link_token
from shared.settings import Settings
from tests.integration.visitor_ws_client import Visitor
from tests.support import eventually


def contacts(visitor: Visitor) -> list[str | None]:
    """The addresses `contact` frames named, in order (None: the hello's "none known")."""
    return [f["email"] for f in visitor.matching(lambda f: f["type"] == "contact")]


async def test_an_email_in_a_message_is_confirmed_live_and_at_the_next_hello(
    chat, gateway, settings: Settings
) -> None:
    sally = await Visitor.connect(gateway, settings.write_key)
    other_tab = await Visitor.connect(gateway, settings.write_key, token=sally.welcome["token"])
    await sally.say("hi")
    first = await sally.wait_for(lambda f: f["type"] == "message")
    cid = first["message"]["conversation_id"]
    # a continue link's socket on the same conversation: never told the address
    token = continue_link_token(settings.token_secret, ContinueGrant("default", cid))
    linked = await Visitor.connect(gateway, settings.write_key, continue_token=token)
    await linked.wait_for(lambda f: f["type"] == "history")
    assert contacts(sally) == [None]  # said at hello: nothing given yet, the widget may ask

    await sally.say("write to me at Sally@Example.com please")
    await sally.wait_for(lambda f: f["type"] == "contact" and f["email"])
    await other_tab.wait_for(lambda f: f["type"] == "contact" and f["email"])
    assert contacts(sally) == contacts(other_tab) == [None, "sally@example.com"]
    await linked.wait_for(lambda f: f["type"] == "message" and f["message"]["seq"] == 2)
    await asyncio.sleep(0.3)
    assert contacts(linked) == []

    # "change it": a new address replaces the old one
    await sally.send(
        {"type": "email", "client_msg_id": "email-change-1", "email": "s@work.example"}
    )
    await sally.wait_for(lambda f: f["type"] == "contact" and f["email"] == "s@work.example")
    again = await Visitor.connect(gateway, settings.write_key, token=sally.welcome["token"])
    await again.wait_for(lambda f: f["type"] == "contact")
    await asyncio.sleep(0.2)
    assert contacts(again) == ["s@work.example"]
    assert contacts(linked) == []
    for socket in (sally, other_tab, linked, again):
        await socket.close()


async def test_a_member_whose_profile_has_an_email_is_told_at_hello(
    chat, gateway, start_service, settings: Settings
) -> None:
    await start_service("identity")
    sally = await Visitor.connect(gateway, settings.write_key)
    await sally.wait_for(lambda f: f["type"] == "contact")
    assert contacts(sally) == [None]
    await sally.send(
        {
            "type": "identify",
            "message_id": "identify-0001",
            "user_id": "u-sally",
            "traits": {"email": "sally@example.com", "name": "Sally"},
        }
    )
    ok = await sally.wait_for(lambda f: f["type"] == "ok" and f["ref"] == "identify-0001")
    await sally.close()

    async def told() -> bool:
        member = await Visitor.connect(gateway, settings.write_key, token=ok["token"])
        await member.wait_for(lambda f: f["type"] == "contact")
        found = contacts(member)
        await member.close()
        return found == ["sally@example.com"]

    await eventually(told, timeout=15)  # once identity has folded the identify in

    # an anonymous visitor is not looked up: nothing to tell
    stranger = await Visitor.connect(gateway, settings.write_key)
    await stranger.wait_for(lambda f: f["type"] == "contact")
    assert contacts(stranger) == [None]
    await stranger.close()

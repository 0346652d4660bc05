"""A verified member sees their conversations on a second device and replies into one;
an unverified identify, or an email typed in the chat, shows nothing (real gateway,
chat, identity, NATS and database)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt

from shared.security import sign_token, user_hash
from shared.settings import Settings
from tests.integration.visitor_ws_client import Visitor
from tests.support import eventually


async def identify(visitor: Visitor, user_id: str, mid: str, **proof: Any) -> dict[str, Any]:
    frame = {"type": "identify", "message_id": mid, "user_id": user_id, **proof}
    await visitor.send(frame)
    return await visitor.wait_for(lambda f: f.get("ref") == mid)


async def listed(visitor: Visitor) -> dict[str, Any]:
    before = len(visitor.matching(lambda f: f["type"] in ("conversations", "error")))
    await visitor.send({"type": "conversations"})

    async def answered() -> bool:
        return len(visitor.matching(lambda f: f["type"] in ("conversations", "error"))) > before

    await eventually(answered)
    return visitor.matching(lambda f: f["type"] in ("conversations", "error"))[-1]


async def refused_history(socket: Visitor, cid: str) -> None:
    answer = await listed(socket)
    assert (answer["type"], answer["code"]) == ("error", "not_verified")
    await socket.send({"type": "open", "conversation_id": cid})

    def second_refusal(frame: dict[str, Any]) -> bool:
        return frame.get("code") == "not_verified" and frame is not answer

    assert (await socket.wait_for(second_refusal))["type"] == "error"
    assert not socket.matching(lambda f: f["type"] == "history" and f["conversation_id"] == cid)


async def test_a_second_verified_device_sees_and_replies_into_the_first_ones_conversation(
    chat, gateway, start_service, settings: Settings
) -> None:
    await start_service("identity")
    laptop = await Visitor.connect(gateway, settings.write_key)
    hashed = user_hash(settings.identity_secret, "u-sally")
    assert (await identify(laptop, "u-sally", "ident-laptop", user_hash=hashed))["verified"]
    await laptop.say("my invoice is wrong")
    first = await laptop.wait_for(lambda f: f["type"] == "message")
    cid = first["message"]["conversation_id"]

    phone = await Visitor.connect(gateway, settings.write_key)
    token = jwt.encode(
        {"sub": "u-sally", "iat": int(time.time()), "exp": int(time.time()) + 300},
        settings.identity_secret,
        "HS256",
    )
    phone_ok = await identify(phone, "u-sally", "ident-phone1", identity_token=token)
    assert phone_ok["verified"] is True

    async def sees_it() -> bool:
        answer = await listed(phone)
        return any(c["id"] == cid for c in answer.get("conversations", []))

    await eventually(sees_it, timeout=15)  # once identity has folded both identifies in
    shown = (await listed(phone))["conversations"]
    mine = next(c for c in shown if c["id"] == cid)
    assert mine["last_message"] == "my invoice is wrong" and mine["current"] is False
    assert "visitor_id" not in mine  # a conversation's key never reaches the browser

    await phone.send({"type": "open", "conversation_id": cid})
    await phone.wait_for(lambda f: f["type"] == "opened" and f["conversation_id"] == cid)
    history = await phone.wait_for(lambda f: f["type"] == "history" and f["conversation_id"] == cid)
    assert [m["text"] for m in history["messages"]] == ["my invoice is wrong"]

    await phone.say("it is invoice 42", "from-the-phone-1")
    reply = await laptop.wait_for(lambda f: f["type"] == "message" and f["message"]["seq"] == 2)
    assert reply["message"]["conversation_id"] == cid
    assert reply["message"]["text"] == "it is invoice 42"
    # the phone gets its own message live, in the opened conversation
    echoed = await phone.wait_for(lambda f: f["type"] == "message")
    assert echoed["message"]["conversation_id"] == cid

    # a refreshed visitor token remembers the proof: a reconnect may list again
    again = await Visitor.connect(gateway, settings.write_key, token=phone_ok["token"])
    assert any(c["id"] == cid for c in (await listed(again))["conversations"])
    for socket in (laptop, phone, again):
        await socket.close()


async def test_an_unverified_identify_or_a_typed_email_never_shows_history(
    chat, gateway, start_service, settings: Settings
) -> None:
    await start_service("identity")
    owner = await Visitor.connect(gateway, settings.write_key)
    hashed = user_hash(settings.identity_secret, "u-victim")
    await identify(
        owner, "u-victim", "ident-owner1", user_hash=hashed, traits={"email": "v@example.com"}
    )
    await owner.say("private: my address is 1 Main St")
    first = await owner.wait_for(lambda f: f["type"] == "message")
    cid = first["message"]["conversation_id"]

    claimer = await Visitor.connect(gateway, settings.write_key)
    ok = await identify(claimer, "u-victim", "ident-claim1")  # no proof: the user id is claimed
    assert ok["type"] == "ok" and ok["verified"] is False
    typist = await Visitor.connect(gateway, settings.write_key)
    await typist.say("hi, I am v@example.com")
    await typist.wait_for(lambda f: f["type"] == "contact" and f["email"])
    resumed = await Visitor.connect(gateway, settings.write_key, token=ok["token"])
    # a visitor token whose identity-token proof has run out (its `vf` is that token's exp)
    welcome = claimer.welcome
    lapsed_claims = {"ws": "default", "vid": welcome["visitor_id"], "did": welcome["distinct_id"]}
    lapsed_claims |= {"uid": "u-victim", "vf": int(time.time()) - 5}
    lapsed_token = sign_token(settings.token_secret, lapsed_claims, ttl_seconds=3600)
    lapsed = await Visitor.connect(gateway, settings.write_key, token=lapsed_token)
    assert lapsed.welcome["verified"] is False
    await asyncio.sleep(1)  # identity has had time to fold everything in
    for socket in (claimer, typist, resumed, lapsed):
        await refused_history(socket, cid)
    for socket in (owner, claimer, typist, resumed, lapsed):
        await socket.close()

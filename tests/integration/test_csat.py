"""CSAT and a new conversation after resolution, through the real gateway socket, chat,
identity, NATS and database: a rating is checked at the gateway and by chat, stored on
the conversation as `rating: {score, comment, at}`, and lands on the person's timeline
as `track "Conversation Rated"`; a visitor starts a new conversation instead of
reopening the resolved one, and their other tab follows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient

from shared.settings import Settings
from tests.integration.chat_support import Frames, ask
from tests.integration.identity_support import Stack
from tests.integration.test_continue_link import link_for
from tests.integration.visitor_ws_client import Visitor
from tests.support import eventually


async def rate(visitor: Visitor, cid: str, score: Any, comment: Any = "") -> dict[str, Any]:
    """The answer to one rating: `rated`, or the error frame (ref "rating")."""
    before = len(visitor.matching(_rating_answer))
    await visitor.send(
        {"type": "rate", "message_id": "rating", "conversation_id": cid, "score": score}
        | ({"comment": comment} if comment != "" else {})
    )

    def answered(frame: dict[str, Any]) -> bool:
        return _rating_answer(frame) and len(visitor.matching(_rating_answer)) > before

    await visitor.wait_for(answered)
    return visitor.matching(_rating_answer)[-1]


def _rating_answer(frame: dict[str, Any]) -> bool:
    return frame["type"] == "rated" or (frame["type"] == "error" and frame.get("ref") == "rating")


async def resolve(bus, visitor: Visitor, cid: str) -> None:
    await ask(bus, "conversation.update", conversation_id=cid, agent_id="a1", status="resolved")
    await visitor.wait_for(
        lambda f: (
            f["type"] == "status" and f["conversation_id"] == cid and f["status"] == "resolved"
        )
    )


async def stored_rating(settings: Settings, cid: str) -> Any:
    """The conversation document's `rating` as chat stored it (what Reports read)."""
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(settings.mongo_url)
    try:
        doc = await client[settings.database_name("chat")]["conversations"].find_one({"_id": cid})
    finally:
        client.close()
    assert doc is not None
    return doc.get("rating")


async def age_rating(settings: Settings, cid: str, by: timedelta) -> None:
    """Move the stored rating's time back (test set-up: the window has passed)."""
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(settings.mongo_url)
    try:
        conversations = client[settings.database_name("chat")]["conversations"]
        doc = await conversations.find_one({"_id": cid})
        assert doc is not None
        at = doc["rating"]["at"] - by
        await conversations.update_one({"_id": cid}, {"$set": {"rating.at": at}})
    finally:
        client.close()


async def test_a_resolved_conversation_is_rated_stored_and_on_the_persons_timeline(
    chat, gateway, start_service, settings: Settings, bus
) -> None:
    await start_service("identity")
    sally = await Visitor.connect(gateway, settings.write_key)
    await sally.say("where is my parcel?")
    cid = (await sally.wait_for(lambda f: f["type"] == "message"))["message"]["conversation_id"]

    # not resolved yet: refused
    assert (await rate(sally, cid, 5))["code"] == "not_resolved"
    await resolve(bus, sally, cid)

    # every bad score and an over-long comment are refused at the gateway
    for bad in (0, 6, "5", True, 4.5):
        answer = await rate(sally, cid, bad)
        assert (answer["type"], answer["code"]) == ("error", "invalid"), bad
    assert (await rate(sally, cid, 3, "x" * 1001))["code"] == "too_large"
    assert await stored_rating(settings, cid) is None

    # another visitor names Sally's conversation: not theirs, refused (before and after
    # they have a conversation of their own)
    mallory = await Visitor.connect(gateway, settings.write_key)
    assert (await rate(mallory, cid, 1, "spam"))["code"] == "not_found"
    await mallory.say("hello")
    await mallory.wait_for(lambda f: f["type"] == "message")
    assert (await rate(mallory, cid, 1))["code"] == "not_found"
    assert await stored_rating(settings, cid) is None

    facts = await Frames.on(bus, bus.subjects.chat_fact("rated"))  # for webhooks
    agents = await Frames.on(bus, bus.subjects.live_agents("default"))
    answer = await rate(sally, cid, 4, "  quick and kind  ")
    assert answer["type"] == "rated" and answer["conversation_id"] == cid
    assert (answer["rating"]["score"], answer["rating"]["comment"]) == (4, "quick and kind")
    rating = await stored_rating(settings, cid)
    assert set(rating) == {"score", "comment", "at"}
    assert (rating["score"], rating["comment"]) == (4, "quick and kind")
    assert isinstance(rating["at"], datetime)

    fact = await facts.wait_for(lambda f: f["conversation_id"] == cid)
    assert fact["rating"]["score"] == 4 and fact["rating"]["comment"] == "quick and kind"
    updated = await agents.wait_for(
        lambda f: (
            f["type"] == "conversation.updated"
            and (f["conversation"]["rating"] or {}).get("score") == 4
        )
    )
    assert updated["conversation"]["id"] == cid
    # a change of mind within the window replaces it: one rating per conversation
    assert (await rate(sally, cid, 5, "actually great"))["rating"]["score"] == 5
    rating = await stored_rating(settings, cid)
    assert (rating["score"], rating["comment"]) == (5, "actually great")
    detail = await ask(bus, "conversation.get", conversation_id=cid)
    assert detail["conversation"]["rating"]["score"] == 5
    # the history the widget gets at its next hello says it is rated
    again = await Visitor.connect(gateway, settings.write_key, token=sally.welcome["token"])
    history = await again.wait_for(lambda f: f["type"] == "history")
    assert history["status"] == "resolved" and history["rating"]["score"] == 5

    # past the window (24 h after the last rating) it is refused, and stays as it was
    await age_rating(settings, cid, timedelta(hours=25))
    assert (await rate(sally, cid, 1, "changed my mind again"))["code"] == "already_rated"
    assert (await stored_rating(settings, cid))["score"] == 5

    # on the person's timeline: the track event, with the conversation, score and comment
    stack = Stack(gateway, settings)
    did = sally.welcome["distinct_id"]
    profile = await stack.wait_profile(lambda p: True, timeout=15, distinct_id=did)

    async def rated_events() -> list[dict[str, Any]]:
        status, body = await stack.api(f"/v1/profiles/{profile['id']}/events", limit=20)
        assert status == 200, body
        return [e for e in body["events"] if e["event"] == "Conversation Rated"]

    async def both_there() -> bool:
        return len(await rated_events()) == 2

    await eventually(both_there, timeout=15)
    events = await rated_events()
    assert events[0]["type"] == "track"
    assert {e["properties"]["score"] for e in events} == {4, 5}
    newest = next(e for e in events if e["properties"]["score"] == 5)
    assert newest["properties"] == {
        "conversation_id": cid,
        "score": 5,
        "comment": "actually great",
    }
    for socket in (sally, mallory, again):
        await socket.close()


async def test_a_visitor_starts_a_new_conversation_after_resolution_and_the_other_tab_follows(
    chat, gateway, settings: Settings, bus
) -> None:
    tab1 = await Visitor.connect(gateway, settings.write_key)
    tab2 = await Visitor.connect(gateway, settings.write_key, token=tab1.welcome["token"])
    await tab1.say("first question")
    first = (await tab1.wait_for(lambda f: f["type"] == "message"))["message"]
    cid = first["conversation_id"]
    await tab2.wait_for(lambda f: f["type"] == "message" and f["message"]["conversation_id"] == cid)

    # still open: write in it (no new conversation)
    await tab1.send({"type": "new_conversation"})
    refused = await tab1.wait_for(lambda f: f["type"] == "error")
    assert refused["code"] == "not_resolved"

    await resolve(bus, tab1, cid)
    await tab1.send({"type": "new_conversation"})
    started = await tab1.wait_for(lambda f: f["type"] == "started")
    # the other tab is told, and reconnects with the token the first one stored
    await tab2.wait_for(lambda f: f["type"] == "new_conversation")

    await tab1.say("a second, unrelated question", "second-question-1")
    second = await tab1.wait_for(
        lambda f: f["type"] == "message" and f["message"]["text"].startswith("a second")
    )
    new_cid = second["message"]["conversation_id"]
    assert new_cid != cid and second["message"]["seq"] == 1
    # the resolved one stays resolved, with its one message; the new one is open
    old = await ask(bus, "conversation.get", conversation_id=cid)
    assert old["conversation"]["status"] == "resolved"
    assert [m["text"] for m in old["messages"] if not m["internal"]] == ["first question"]
    new = await ask(bus, "conversation.get", conversation_id=new_cid)
    assert new["conversation"]["status"] == "open"
    # the same visitor and person: same distinct id, so identity puts both on one profile
    assert new["conversation"]["distinct_id"] == old["conversation"]["distinct_id"]
    assert not tab2.matching(
        lambda f: f["type"] == "message" and f["message"]["conversation_id"] == new_cid
    )  # tab2 is still on the old key until it reconnects

    # the reconnect (the other tab, the next page) is on the new conversation: same
    # visitor, and a resync from the old conversation's last seq still gets all of it
    back = await Visitor.connect(
        gateway, settings.write_key, token=started["token"], last_seq=first["seq"] + 5
    )
    assert back.welcome["visitor_id"] == tab1.welcome["visitor_id"]
    history = await back.wait_for(lambda f: f["type"] == "history")
    assert history["conversation_id"] == new_cid
    await back.send({"type": "resync"})
    full = await back.wait_for(
        lambda f: f["type"] == "history" and f["after_seq"] is None and f is not history
    )
    assert [m["text"] for m in full["messages"]] == ["a second, unrelated question"]
    # a rating names the conversation on screen only: the old one is not this key's now
    await resolve(bus, back, new_cid)
    assert (await rate(back, cid, 5))["code"] == "not_found"
    assert (await rate(back, new_cid, 2))["rating"]["score"] == 2
    for socket in (tab1, tab2, back):
        await socket.close()


async def test_a_continue_link_may_rate_its_conversation_but_not_start_another(
    chat, gateway, settings: Settings, bus
) -> None:
    sally = await Visitor.connect(gateway, settings.write_key)
    await sally.say("the parcel is late")
    cid = (await sally.wait_for(lambda f: f["type"] == "message"))["message"]["conversation_id"]
    await resolve(bus, sally, cid)
    link = await Visitor.connect(
        gateway, settings.write_key, continue_token=link_for(settings, cid)
    )
    await link.wait_for(lambda f: f["type"] == "history" and f["status"] == "resolved")
    assert (await rate(link, cid, 3, "from the email"))["rating"]["score"] == 3
    await link.send({"type": "new_conversation"})
    refused = await link.wait_for(lambda f: f["type"] == "error")
    assert refused["code"] == "not_granted"
    # the visitor's own tab starts one: the link's socket (same key) is not told to follow
    await sally.send({"type": "new_conversation"})
    await sally.wait_for(lambda f: f["type"] == "started")
    await sally.say("a new question", "new-question-01")
    await sally.wait_for(
        lambda f: f["type"] == "message" and f["message"]["text"] == "a new question"
    )
    assert not link.matching(lambda f: f["type"] == "new_conversation")
    for socket in (sally, link):
        await socket.close()

"""The median first response time visitors are shown ("usually replies in a few minutes"):
the fold keeps each conversation's first reply time, chat takes the median of the last
7 days from the index, and `presence.get` carries it in whole minutes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bson import ObjectId

from services.chat.app import CHAT
from services.chat.reply_time import ReplyTimes
from shared import clock
from shared.bus import Bus
from tests.integration.chat_support import WS, Frames, ask, conversation_of, visitor_says

AGENT = {"id": "agent-ann", "name": "Ann", "avatar": None}


def seeded(ws: str, opened_ago: timedelta, answered_after: timedelta | None) -> dict[str, Any]:
    opened = clock.now() - opened_ago
    return {
        "_id": str(ObjectId()),
        "workspace_id": ws,
        "visitor_id": "v-" + str(ObjectId()),
        "status": "open",
        "created_at": opened,
        "first_reply_at": None if answered_after is None else opened + answered_after,
    }


async def test_the_median_of_the_last_seven_days_first_responses(chat, bus: Bus) -> None:
    ctx = chat.app[CHAT]
    minutes, hours, days = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
    docs = [
        # in the window: 2, 4, 6 and 30 minutes -> median 5 minutes
        seeded(WS, 1 * hours, 2 * minutes),
        seeded(WS, 2 * days, 4 * minutes),
        seeded(WS, 3 * days, 6 * minutes),
        seeded(WS, 6 * days, 30 * minutes),
        # outside it: answered 8 days ago (slowly), never answered, another workspace
        seeded(WS, 8 * days, 10 * hours),
        seeded(WS, 1 * hours, None),
        seeded("elsewhere", 1 * hours, 5 * hours),
    ]
    await ctx.store.conversations.insert_many(docs)

    times = ReplyTimes(ctx.store, ttl=0)
    assert await times.median_seconds(WS) == 5 * 60
    assert await times.minutes(WS) == 5
    assert await times.minutes("elsewhere") == 300
    assert await times.minutes("nobody") is None

    view = await ask(bus, "presence.get")
    assert view["reply_minutes"] == 5


async def test_the_cached_figure_waits_for_its_ttl(chat) -> None:
    ctx = chat.app[CHAT]
    now = [0.0]
    times = ReplyTimes(ctx.store, ttl=300, monotonic=lambda: now[0])
    assert await times.minutes(WS) is None
    await ctx.store.conversations.insert_one(seeded(WS, timedelta(hours=1), timedelta(minutes=3)))
    assert await times.minutes(WS) is None, "cached: no query before the ttl"
    now[0] = 301.0
    assert await times.minutes(WS) == 3


async def test_the_first_agent_reply_sets_first_reply_at_once(chat, bus: Bus) -> None:
    await visitor_says(bus, "v-first", "hello?")
    cid = (await conversation_of(bus, "v-first"))["conversation_id"]
    first = await ask(
        bus, "agent.send", conversation_id=cid, agent=AGENT, client_msg_id="a1", text="Hi!"
    )
    await ask(bus, "agent.send", conversation_id=cid, agent=AGENT, client_msg_id="n1",
              text="a note", internal=True)  # fmt: skip
    await conversation_of(bus, "v-first", messages=2)
    store = chat.app[CHAT].store
    doc = await store.conversation(WS, cid)
    assert doc is not None
    replied = doc["first_reply_at"]
    assert abs((replied - doc["created_at"]).total_seconds()) < 30
    assert replied.isoformat()[:19] == first["created_at"][:19]

    await ask(bus, "agent.send", conversation_id=cid, agent=AGENT, client_msg_id="a2", text="Again")
    await conversation_of(bus, "v-first", messages=3)
    again = await store.conversation(WS, cid)
    assert again is not None and again["first_reply_at"] == replied, "the first reply only"


async def test_resolving_tells_the_visitor_and_reopening_too(chat, bus: Bus) -> None:
    await visitor_says(bus, "v-res", "thanks")
    cid = (await conversation_of(bus, "v-res"))["conversation_id"]
    visitor = await Frames.on(bus, bus.subjects.live_visitor(WS, "v-res"))
    update = {"conversation_id": cid, "agent_id": "agent-ann"}
    await ask(bus, "conversation.update", **update, status="resolved")
    frame = await visitor.wait_for(lambda f: f["type"] == "status")
    assert frame == {"type": "status", "conversation_id": cid, "status": "resolved"}
    await ask(bus, "conversation.update", **update, priority="high")  # no status change
    await ask(bus, "conversation.update", **update, status="open")
    await visitor.wait_for(lambda f: f["type"] == "status" and f["status"] == "open")
    assert [f["status"] for f in visitor.items if f["type"] == "status"] == ["resolved", "open"]
    assert (await ask(bus, "history", visitor_id="v-res"))["status"] == "open"

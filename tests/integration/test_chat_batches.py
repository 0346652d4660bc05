"""The inbound consumer a batch at a time: order, idempotency and recovery under load."""

from __future__ import annotations

import functools
from typing import Any

from bson import ObjectId

from services.chat.store import ChatStore, alloc_field
from shared.bus import Bus
from shared.dialect import SECANTUS
from shared.web import DB
from tests.integration.chat_support import WS, Frames, ask, conversation_of, visitor_says
from tests.support import eventually

VISITORS = [f"v-burst-{n}" for n in range(12)]


async def test_a_backlog_is_stored_in_order_once_each_with_a_frame_each(
    start_service, bus: Bus
) -> None:
    # some visitors already have a conversation, one of them resolved
    chat = await start_service("chat")
    for visitor in VISITORS[:4]:
        await visitor_says(bus, visitor, "earlier", client_msg_id="earlier")
    for visitor in VISITORS[:4]:
        await conversation_of(bus, visitor)
    resolved = (await conversation_of(bus, VISITORS[0]))["conversation_id"]
    await ask(
        bus, "conversation.update", conversation_id=resolved, agent_id="a1", status="resolved"
    )
    await chat.close()

    # a backlog piles up while chat is away: interleaved visitors, retries, one bad message
    frames = await Frames.on(bus, bus.subjects.live_visitor(WS, "*"))
    emails = await Frames.on(bus, bus.subjects.events(WS, "email"))
    dead = await Frames.on(bus, bus.subjects.deadletter_all)
    for n in range(5):
        for visitor in VISITORS:
            text = f"{visitor} #{n}" + (" mail me: sam@example.org" if n == 3 else "")
            await visitor_says(bus, visitor, text, client_msg_id=f"m{n}")
    for visitor in VISITORS:  # the gateway retried after JetStream's duplicate window
        await visitor_says(bus, visitor, "dup", client_msg_id="m1", msg_id=f"retry-{visitor}")
    await bus.publish_durable(
        bus.subjects.chat_inbound(WS),
        {"type": "visitor.message", "workspace_id": WS, "visitor_id": "v", "text": "no id"},
        "bad-burst",
    )
    await start_service("chat")

    for visitor in VISITORS:
        history = await conversation_of(bus, visitor, messages=5)
        texts = [m["text"] for m in history["messages"] if m["client_msg_id"] != "earlier"]
        assert texts == [
            f"{visitor} #{n}" + (" mail me: sam@example.org" if n == 3 else "") for n in range(5)
        ]
        # the thread's own lines (the resolve's activity line) take seqs the widget never
        # sees, as internal notes do
        seqs = [m["seq"] for m in history["messages"]]
        assert seqs == sorted(set(seqs)), "one seq each, in send order"
        cid = history["conversation_id"]
        # messages are stored, then folded into their conversation: wait for the fold
        summary: dict = {}

        async def folded(cid: str = cid, last: int = seqs[-1], seen: dict = summary) -> bool:
            got = await ask(bus, "conversation.get", conversation_id=cid, agent_id="a1")
            seen.update(got["conversation"])
            # last_seq moves when seqs are reserved (before the insert); the preview with the fold
            return (seen["last_message"] or {}).get("seq", 0) >= last

        await eventually(folded)
        assert summary["unread"] == len(seqs) and summary["last_seq"] == seqs[-1]
        assert summary["last_message"]["seq"] == seqs[-1]
        assert summary["status"] == "open" and summary["email"] == "sam@example.org"

    async def every_frame_came() -> bool:
        messages = [f["message"] for f in frames.items if f["type"] == "message"]
        return len(messages) >= len(VISITORS) * 6

    await eventually(every_frame_came)
    acks_of_m1 = frames.matching(
        lambda f: f["type"] == "message" and f["message"]["client_msg_id"] == "m1"
    )
    by_conversation: dict[str, set[str]] = {}
    for frame in acks_of_m1:
        by_conversation.setdefault(frame["message"]["conversation_id"], set()).add(
            frame["message"]["id"]
        )
    assert len(by_conversation) == len(VISITORS)
    assert all(len(ids) == 1 for ids in by_conversation.values()), "a retry acks the stored one"
    await dead.wait_for(lambda f: f["code"] == "invalid")
    await eventually(lambda: _count(emails, len(VISITORS)))


async def _stored(store: ChatStore, cid: str) -> dict[str, Any]:
    found = await store.conversation(WS, cid)
    assert found is not None
    return found


async def _count(frames: Frames, n: int) -> bool:
    return len(frames.items) >= n


async def test_a_message_stored_but_not_folded_before_a_crash_counts_once(
    start_service, bus: Bus
) -> None:
    chat = await start_service("chat")
    await visitor_says(bus, "v-crash", "one")
    cid = (await conversation_of(bus, "v-crash"))["conversation_id"]
    # what a worker dying between the insert and the fold leaves behind
    store = ChatStore(chat.app[DB], SECANTUS)
    mid = str(ObjectId())
    seq = (await store.reserve(WS, {cid: [mid]}, alloc_field()))[cid]
    doc = {
        "_id": mid,
        "workspace_id": WS,
        "conversation_id": cid,
        "client_msg_id": "two",
        "seq": seq,
        "author": {"kind": "visitor", "id": "v-crash", "name": None, "avatar": None},
        "text": "two",
        "created_at": (await _stored(store, cid))["created_at"],
        "internal": False,
    }
    await store.messages.insert_one(doc)
    frames = await Frames.on(bus, bus.subjects.live_visitor(WS, "v-crash"))

    for attempt in range(2):  # the redelivery, then one more for good measure
        await visitor_says(bus, "v-crash", "two", client_msg_id="two", msg_id=f"again-{attempt}")
        await eventually(functools.partial(_count, frames, attempt + 1))
    await visitor_says(bus, "v-crash", "three")
    history = await conversation_of(bus, "v-crash", messages=3)
    assert [(m["text"], m["seq"]) for m in history["messages"]] == [
        ("one", 1),
        ("two", 2),
        ("three", 3),
    ]
    assert {f["message"]["id"] for f in frames.items[:2]} == {mid}
    got = await ask(bus, "conversation.get", conversation_id=cid, agent_id="a1")
    assert got["conversation"]["unread"] == 3, "the stored message was counted exactly once"
    raw = await _stored(store, cid)
    assert raw.get("unfolded") == []

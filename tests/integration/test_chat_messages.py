"""Chat messages end to end over the real bus and database: store, sequence, ack, history."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.bus import Bus
from shared.errors import BusError
from tests.integration.chat_support import WS, Frames, ask, conversation_of, visitor_says
from tests.support import eventually

AGENT = {"id": "agent-ann", "name": "Ann", "avatar": None}


@pytest.fixture
async def chat(start_service):
    return await start_service("chat")


async def test_a_visitor_message_is_stored_then_acked_to_the_visitor_and_shown_to_agents(
    chat, bus: Bus
) -> None:
    visitor = await Frames.on(bus, bus.subjects.live_visitor(WS, "v-sally"))
    agents = await Frames.on(bus, bus.subjects.live_agents(WS))
    cmid = await visitor_says(bus, "v-sally", "Hello, is anyone there?")

    ack = await visitor.wait_for(lambda f: f["type"] == "message")
    assert ack["message"]["client_msg_id"] == cmid
    assert ack["message"]["seq"] == 1
    assert ack["message"]["author"]["kind"] == "visitor"
    live = await agents.wait_for(lambda f: f["type"] == "message")
    assert live["message"]["id"] == ack["message"]["id"]
    assert live["conversation"]["visitor_id"] == "v-sally"
    assert live["conversation"]["status"] == "open"
    assert live["conversation"]["last_message"]["text"] == "Hello, is anyone there?"

    history = await ask(bus, "history", visitor_id="v-sally")
    assert [m["text"] for m in history["messages"]] == ["Hello, is anyone there?"]
    assert history["conversation_id"] == live["conversation"]["id"]


async def test_a_redelivered_message_is_stored_once_and_acked_again(chat, bus: Bus) -> None:
    visitor = await Frames.on(bus, bus.subjects.live_visitor(WS, "v-retry"))
    cmid = await visitor_says(bus, "v-retry", "first try", msg_id="gw-1")
    await visitor.wait_for(lambda f: f["type"] == "message")
    # a gateway retry after JetStream's duplicate window: a new stream message, same client id
    await visitor_says(bus, "v-retry", "first try", client_msg_id=cmid, msg_id="gw-2")
    await visitor_says(bus, "v-retry", "second", msg_id="gw-3")

    history = await conversation_of(bus, "v-retry", messages=2)
    assert [(m["text"], m["seq"]) for m in history["messages"]] == [("first try", 1), ("second", 2)]

    acks = await _acks_for(visitor, cmid, count=2)
    assert {a["message"]["id"] for a in acks} == {history["messages"][0]["id"]}


async def _acks_for(frames: Frames, cmid: str, count: int) -> list[dict]:
    async def enough() -> bool:
        return len(frames.matching(lambda f: f["message"]["client_msg_id"] == cmid)) >= count

    await eventually(enough)
    return frames.matching(lambda f: f["message"]["client_msg_id"] == cmid)


async def test_visitor_and_agent_messages_share_one_increasing_sequence(chat, bus: Bus) -> None:
    await visitor_says(bus, "v-seq", "one")
    conv = await conversation_of(bus, "v-seq")
    cid = conv["conversation_id"]
    replies = await asyncio.gather(
        *(
            ask(
                bus,
                "agent.send",
                conversation_id=cid,
                agent=AGENT,
                client_msg_id=f"a{n}",
                text=f"r{n}",
            )
            for n in range(5)
        )
    )
    await visitor_says(bus, "v-seq", "two")
    history = await conversation_of(bus, "v-seq", messages=7)
    seqs = [m["seq"] for m in history["messages"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 7
    assert sorted(r["seq"] for r in replies) == seqs[1:6]
    assert history["messages"][-1]["text"] == "two"
    assert history["last_seq"] == 7


async def test_history_after_a_sequence_returns_only_what_the_visitor_missed(
    chat, bus: Bus
) -> None:
    for n in range(4):
        await visitor_says(bus, "v-hist", f"m{n}")
        await conversation_of(bus, "v-hist", messages=n + 1)
    after = await ask(bus, "history", visitor_id="v-hist", after_seq=2)
    assert [m["text"] for m in after["messages"]] == ["m2", "m3"]
    assert after["has_more"] is False
    paged = await ask(bus, "history", visitor_id="v-hist", after_seq=0, limit=3)
    assert [m["seq"] for m in paged["messages"]] == [1, 2, 3] and paged["has_more"] is True
    nobody = await ask(bus, "history", visitor_id="v-nobody")
    assert nobody["conversation_id"] is None and nobody["messages"] == []
    assert (nobody["visitor_read_seq"], nobody["agent_read_seq"]) == (0, 0)


async def test_an_agent_reply_reaches_the_visitor_and_a_retry_is_stored_once(
    chat, bus: Bus
) -> None:
    await visitor_says(bus, "v-reply", "help")
    cid = (await conversation_of(bus, "v-reply"))["conversation_id"]
    visitor = await Frames.on(bus, bus.subjects.live_visitor(WS, "v-reply"))
    args = dict(conversation_id=cid, agent=AGENT, client_msg_id="ann-1", text="Hi! How can I help?")
    first = await ask(bus, "agent.send", **args)
    again = await ask(bus, "agent.send", **args)
    assert first == again
    frame = await visitor.wait_for(lambda f: f["type"] == "message")
    assert frame["message"]["author"] == {"kind": "agent", **AGENT}
    history = await conversation_of(bus, "v-reply", messages=2)
    assert [m["text"] for m in history["messages"]] == ["help", "Hi! How can I help?"]
    got = await ask(bus, "conversation.get", conversation_id=cid, agent_id="agent-ann")
    assert got["conversation"]["assignee_id"] == "agent-ann", "replying takes an unassigned chat"


async def test_internal_notes_reach_agents_but_never_the_visitor(chat, bus: Bus) -> None:
    await visitor_says(bus, "v-note", "hello")
    cid = (await conversation_of(bus, "v-note"))["conversation_id"]
    visitor = await Frames.on(bus, bus.subjects.live_visitor(WS, "v-note"))
    agents = await Frames.on(bus, bus.subjects.live_agents(WS))
    note = "VIP customer, offer the discount"
    await ask(
        bus,
        "agent.send",
        conversation_id=cid,
        agent=AGENT,
        client_msg_id="n1",
        text=note,
        internal=True,
    )
    await ask(
        bus, "agent.send", conversation_id=cid, agent=AGENT, client_msg_id="r1", text="Hello!"
    )

    await agents.wait_for(lambda f: f["type"] == "message" and f["message"]["text"] == note)
    await visitor.wait_for(lambda f: f["type"] == "message" and f["message"]["text"] == "Hello!")
    assert not visitor.matching(lambda f: note in str(f))
    history = await ask(bus, "history", visitor_id="v-note")
    assert note not in str(history)
    full = await ask(bus, "conversation.get", conversation_id=cid, agent_id="agent-ann")
    assert [m["internal"] for m in full["messages"]] == [False, True, False]


async def test_a_message_that_can_never_apply_is_dead_lettered_and_the_next_one_flows(
    chat, bus: Bus
) -> None:
    dead = await Frames.on(bus, bus.subjects.deadletter_all)
    bad = {
        "type": "visitor.message",
        "workspace_id": WS,
        "visitor_id": "undefined",
        "distinct_id": "d",
        "client_msg_id": "x",
        "text": "hi",
    }
    await bus.publish_durable(bus.subjects.chat_inbound(WS), bad, "bad-1")
    await visitor_says(bus, "v-after-bad", "still works")
    await dead.wait_for(lambda f: f["code"] == "invalid")
    await conversation_of(bus, "v-after-bad")


async def test_requests_refuse_bad_input_with_a_reason(chat, bus: Bus) -> None:
    with pytest.raises(BusError) as err:
        await ask(bus, "conversation.get", conversation_id="nope", agent_id="a1")
    assert err.value.code == "not_found"
    with pytest.raises(BusError) as err:
        await ask(bus, "conversations.list", view="everything", agent_id="a1")
    assert err.value.code == "invalid" and "$.view" in str(err.value)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("conversation.read", {"conversation_id": "c1", "agent_id": "a1"}, "seq"),
        ("conversation.messages", {"conversation_id": "c1", "limit": "5"}, "limit"),
        ("conversations.changed", {"since": "yesterday"}, "since"),
        ("conversations.by_profile", {"distinct_ids": ["d1", "undefined"]}, "distinct_ids"),
    ]
    for verb, payload, field in cases:
        with pytest.raises(BusError) as err:
            await ask(bus, verb, **payload)
        assert err.value.code == "invalid" and field in str(err.value), (verb, str(err.value))
    with pytest.raises(BusError) as err:
        await bus.request(
            bus.subjects.request("chat", "history"),
            {"workspace_id": "elsewhere", "visitor_id": "v"},
        )
    assert err.value.code == "not_found"

"""Agents' sends through the dashboard's JSON API to chat: idempotent by the client's id,
batched under concurrency, and refused early (never doubled) when chat is busy."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.chat.app import CHAT
from shared.bus import Bus
from tests.integration.chat_support import ask, conversation_of, visitor_says
from tests.integration.dashboard_support import sign_in


@pytest.fixture
async def stack(start_service, aiohttp_client):
    """Chat and a signed-in dashboard client (CSRF token at `.csrf`); chat's app at `.chat`."""
    chat = await start_service("chat")
    client = await aiohttp_client(await start_service("dashboard"))
    client.csrf = await sign_in(client)
    client.chat = chat.app
    return client


async def post(client: Any, cid: str, cmid: str, text: str) -> Any:
    return await client.post(
        f"/api/conversations/{cid}/messages",
        json={"text": text, "client_msg_id": cmid},
        headers={"X-CSRF-Token": client.csrf},
    )


async def agent_messages(bus: Bus, visitor: str, count: int) -> list[dict[str, Any]]:
    history = await conversation_of(bus, visitor, messages=count)
    return [m for m in history["messages"] if m["author"]["kind"] == "agent"]


async def test_a_retried_send_is_stored_once_and_answers_the_same_message(stack, bus: Bus) -> None:
    await visitor_says(bus, "v-retry", "anyone there?")
    cid = (await conversation_of(bus, "v-retry"))["conversation_id"]

    first = await post(stack, cid, "reply-1", "Yes, how can I help?")
    assert first.status == 200
    # the page's retry after a time-out, and a double click sent at once
    answers = [await post(stack, cid, "reply-1", "Yes, how can I help?")]
    answers += await asyncio.gather(*(post(stack, cid, "reply-1", "Yes!") for _ in range(5)))
    stored = (await first.json())["message"]
    for answer in answers:
        assert answer.status == 200
        assert (await answer.json())["message"] == stored

    await post(stack, cid, "reply-2", "Still there?")
    mine = await agent_messages(bus, "v-retry", 3)
    assert [(m["client_msg_id"], m["seq"]) for m in mine] == [("reply-1", 2), ("reply-2", 3)]
    got = await ask(bus, "conversation.get", conversation_id=cid, agent_id="x")
    assert got["conversation"]["last_seq"] == 3, "no seq was spent on the copies"


async def test_concurrent_sends_to_many_conversations_each_land_once_in_order(
    stack, bus: Bus
) -> None:
    visitors = [f"v-many-{n}" for n in range(8)]
    for visitor in visitors:
        await visitor_says(bus, visitor, "hello")
    cids = [(await conversation_of(bus, v))["conversation_id"] for v in visitors]

    sends = [post(stack, cid, f"r{n}", f"answer {n}") for cid in cids for n in range(4)]
    sends += [post(stack, cid, "r0", "answer 0") for cid in cids]  # retries among them
    answers = await asyncio.gather(*sends)
    assert {a.status for a in answers} == {200}

    for visitor, cid in zip(visitors, cids, strict=True):
        mine = await agent_messages(bus, visitor, 5)
        assert sorted(m["client_msg_id"] for m in mine) == ["r0", "r1", "r2", "r3"]
        assert [m["seq"] for m in mine] == [2, 3, 4, 5], "one seq each, no gaps"
        got = await ask(bus, "conversation.get", conversation_id=cid, agent_id="x")
        assert got["conversation"]["last_message"]["seq"] == 5


async def test_a_busy_chat_refuses_at_once_and_the_retry_stores_it_once(stack, bus: Bus) -> None:
    await visitor_says(bus, "v-busy", "hi")
    cid = (await conversation_of(bus, "v-busy"))["conversation_id"]
    sends = stack.chat[CHAT].agent_sends
    sends.max_wait = -1.0  # as if the oldest send had waited too long already

    refused = await post(stack, cid, "busy-1", "Hello!")
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "1"
    body = await refused.json()
    assert body["code"] == "busy" and body["client_msg_id"] == "busy-1"
    history = await conversation_of(bus, "v-busy")
    assert [m["author"]["kind"] for m in history["messages"]] == ["visitor"], "nothing stored"

    sends.max_wait = 2.0
    again = await post(stack, cid, "busy-1", "Hello!")
    assert again.status == 200
    mine = await agent_messages(bus, "v-busy", 2)
    assert [(m["client_msg_id"], m["seq"]) for m in mine] == [("busy-1", 2)]


async def test_a_send_to_an_unknown_conversation_is_not_found_beside_good_ones(
    stack, bus: Bus
) -> None:
    await visitor_says(bus, "v-mixed", "hi")
    cid = (await conversation_of(bus, "v-mixed"))["conversation_id"]
    good, unknown = await asyncio.gather(
        post(stack, cid, "ok-1", "Hello!"), post(stack, "no-such-conversation", "x-1", "Hello?")
    )
    assert good.status == 200
    assert unknown.status == 404

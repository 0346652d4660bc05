"""`conversation.merge` against the real chat service: one person's two conversations
become one thread, refused for two people, once under two agents at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.bus import Bus
from shared.errors import BusError
from tests.integration.chat_support import ask, conversation_of, visitor_says
from tests.integration.test_chat_identity import _play_identity
from tests.support import eventually

BY = {"agent_id": "a-ann", "agent_name": "Ann"}


@pytest.fixture
async def chat(start_service):
    return await start_service("chat")


async def _profile_is(bus: Bus, cid: str, profile_id: str) -> None:
    async def known() -> bool:
        got = await ask(bus, "conversation.get", conversation_id=cid)
        return bool(got["conversation"]["profile_id"] == profile_id)

    await eventually(known, timeout=10)


async def _two_devices(bus: Bus, profiles: dict[str, str]) -> tuple[str, str]:
    """Ann's laptop (the target, two messages) and phone (the source, three)."""
    await _play_identity(bus, profiles)
    for text in ("laptop 1", "laptop 2"):
        await visitor_says(bus, "v-laptop", text, distinct_id="d-laptop")
        await conversation_of(bus, "v-laptop", 1 if text.endswith("1") else 2)
    for n, text in enumerate(("phone 1", "phone 2", "phone 3"), 1):
        await visitor_says(bus, "v-phone", text, distinct_id="d-phone")
        await conversation_of(bus, "v-phone", n)
    laptop = (await conversation_of(bus, "v-laptop", 2))["conversation_id"]
    phone = (await conversation_of(bus, "v-phone", 3))["conversation_id"]
    await _profile_is(bus, laptop, profiles["d-laptop"])
    await _profile_is(bus, phone, profiles["d-phone"])
    return laptop, phone


async def _thread(bus: Bus, cid: str) -> list[dict[str, Any]]:
    page = await ask(bus, "conversation.messages", conversation_id=cid, after_seq=0, limit=200)
    return list(page["messages"])


async def test_merge_appends_the_source_in_order_and_resolves_it(chat, bus: Bus) -> None:
    laptop, phone = await _two_devices(bus, {"d-laptop": "p-ann", "d-phone": "p-ann"})
    before = await _thread(bus, laptop)

    summary = await ask(bus, "conversation.merge", conversation_id=laptop, source_id=phone, **BY)
    assert summary["id"] == laptop

    thread = await _thread(bus, laptop)
    seqs = [m["seq"] for m in thread]
    assert seqs == sorted(set(seqs)), "strictly increasing, unique"
    texts = [m["text"] for m in thread if m.get("kind") != "activity"]
    assert texts == ["laptop 1", "laptop 2", "phone 1", "phone 2", "phone 3"]
    assert thread[-1]["text"] == "Ann merged conversation with v-phone into this"
    assert [m["seq"] for m in thread[: len(before)]] == [m["seq"] for m in before]
    copied = [m for m in thread if m["text"].startswith("phone")]
    originals = await _thread(bus, phone)
    assert [m["created_at"] for m in copied] == [m["created_at"] for m in originals]

    # the target's widget: its history after what it had holds the phone's messages
    history = await ask(bus, "history", visitor_id="v-laptop", after_seq=before[-1]["seq"])
    assert [m["text"] for m in history["messages"]] == ["phone 1", "phone 2", "phone 3"]
    # the source's widget: resolved, its history still answers
    source = await ask(bus, "history", visitor_id="v-phone")
    assert source["status"] == "resolved"
    assert [m["text"] for m in source["messages"]] == ["phone 1", "phone 2", "phone 3"]
    got = await ask(bus, "conversation.get", conversation_id=phone)
    assert got["conversation"]["merged_into"] == laptop

    again = await ask(bus, "conversation.merge", conversation_id=laptop, source_id=phone, **BY)
    assert again["id"] == laptop
    assert len(await _thread(bus, laptop)) == len(thread), "idempotent: nothing copied twice"


async def test_merge_is_refused_for_two_people_or_one_conversation(chat, bus: Bus) -> None:
    laptop, phone = await _two_devices(bus, {"d-laptop": "p-ann", "d-phone": "p-bob"})
    with pytest.raises(BusError, match="not known to be the same person"):
        await ask(bus, "conversation.merge", conversation_id=laptop, source_id=phone, **BY)
    with pytest.raises(BusError, match="into itself"):
        await ask(bus, "conversation.merge", conversation_id=laptop, source_id=laptop, **BY)
    assert len(await _thread(bus, laptop)) == 2
    got = await ask(bus, "conversation.get", conversation_id=phone)
    assert (got["conversation"]["merged_into"], got["conversation"]["status"]) == (None, "open")


async def test_two_agents_merging_at_once_leave_one_copy(chat, bus: Bus) -> None:
    laptop, phone = await _two_devices(bus, {"d-laptop": "p-ann", "d-phone": "p-ann"})
    both = await asyncio.gather(
        *(
            ask(bus, "conversation.merge", conversation_id=laptop, source_id=phone, **BY)
            for _ in range(2)
        )
    )
    assert [s["id"] for s in both] == [laptop, laptop]

    async def copied() -> bool:
        texts = [m["text"] for m in await _thread(bus, laptop)]
        return texts.count("phone 1") == 1 and any("merged" in t for t in texts)

    await eventually(copied, timeout=10)
    thread = await _thread(bus, laptop)
    assert [m["text"] for m in thread].count("phone 3") == 1
    lines = [m for m in thread if m.get("kind") == "activity"]
    assert len(lines) == 1
    seqs = [m["seq"] for m in thread]
    assert seqs == sorted(set(seqs))

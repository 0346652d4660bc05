"""`conversation.merge` against the real chat service: one person's two conversations
become one thread, refused for two people, once under two agents at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.bus import Bus
from shared.errors import BusError
from shared.settings import Settings
from tests.integration.chat_support import ask, conversation_of, visitor_says
from tests.integration.test_chat_identity import _play_identity
from tests.integration.visitor_ws_client import Visitor
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


async def test_two_agents_merging_at_once_leave_one_copy(chat, start_service, bus: Bus) -> None:
    await start_service("chat")  # a replica: the requests are shared, handled side by side
    laptop, phone = await _two_devices(bus, {"d-laptop": "p-ann", "d-phone": "p-ann"})
    both = await asyncio.gather(
        *(
            ask(bus, "conversation.merge", conversation_id=laptop, source_id=phone, **BY)
            for _ in range(4)
        )
    )
    assert [s["id"] for s in both] == [laptop] * 4

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
    # one claim, one reservation: a losing copier would have left a gap of its seqs
    assert seqs == [1, 2, 3, 4, 5, 6], "the copies right after the target's last seq"


async def test_the_widgets_after_a_merge(start_service, bus: Bus, settings: Settings) -> None:
    """The target's widget gets the copies on resync (hello with its last_seq); the
    source's widget finds its conversation resolved, its history intact."""
    await start_service("chat")
    gateway = await start_service("gateway")
    laptop_ws = await Visitor.connect(gateway, settings.write_key)
    phone_ws = await Visitor.connect(gateway, settings.write_key)
    laptop_v, phone_v = (s.welcome for s in (laptop_ws, phone_ws))
    await _play_identity(bus, {laptop_v["distinct_id"]: "p-ann", phone_v["distinct_id"]: "p-ann"})
    await laptop_ws.say("laptop 1")
    laptop = (await conversation_of(bus, laptop_v["visitor_id"]))["conversation_id"]
    for n, text in enumerate(("phone 1", "phone 2"), 1):
        await phone_ws.say(text)
        await conversation_of(bus, phone_v["visitor_id"], n)
    phone = (await conversation_of(bus, phone_v["visitor_id"], 2))["conversation_id"]
    await _profile_is(bus, laptop, "p-ann")
    await _profile_is(bus, phone, "p-ann")
    seen = max(m["seq"] for m in laptop_ws.messages())
    await laptop_ws.close()
    await phone_ws.close()

    await ask(bus, "conversation.merge", conversation_id=laptop, source_id=phone, **BY)

    laptop_again = await Visitor.connect(
        gateway, settings.write_key, token=laptop_v["token"], last_seq=seen
    )
    await laptop_again.wait_for(lambda f: f["type"] == "history")
    got = laptop_again.messages()
    assert [m["text"] for m in got] == ["phone 1", "phone 2"], "only what it missed"
    assert all(m["seq"] > seen for m in got)
    phone_again = await Visitor.connect(gateway, settings.write_key, token=phone_v["token"])
    history = await phone_again.wait_for(lambda f: f["type"] == "history")
    assert history["status"] == "resolved"
    assert [m["text"] for m in phone_again.messages()] == ["phone 1", "phone 2"]
    await laptop_again.close()
    await phone_again.close()

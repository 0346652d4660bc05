"""Chat and identity: emails found in chat, lazy profile resolution, merges re-pointing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.identity.app import create_app as identity_app
from shared import clock
from shared.bus import Bus
from shared.events import IngestEvent
from shared.settings import Settings
from shared.web import DB
from tests.integration.chat_support import WS, Frames, ask, conversation_of, visitor_says
from tests.integration.identity_support import drained, event, publish
from tests.support import eventually


@pytest.fixture
async def chat(start_service):
    return await start_service("chat")


async def _play_identity(bus: Bus, profiles: dict[str, str]) -> None:
    """Answer profile.resolve the way identity does: distinct id -> profile summary or null."""

    async def resolve(p: dict[str, Any]) -> dict[str, Any] | None:
        pid = profiles.get(p["distinct_id"])
        return (
            None
            if pid is None
            else {"id": pid, "stage": "visitor", "name": None, "email": None, "user_id": None}
        )

    await bus.serve(bus.subjects.request("identity", "profile.resolve"), resolve, queue="identity")


async def test_an_email_written_in_a_message_emits_an_unverified_email_event(
    chat, bus: Bus
) -> None:
    events = await Frames.on(bus, bus.subjects.events(WS, "email"))
    await visitor_says(
        bus, "v-mail", "you can reach me at Sally.Doe@Example.com thanks", distinct_id="d-sally"
    )
    history = await conversation_of(bus, "v-mail")
    raw = await events.wait_for(lambda f: True)
    event = IngestEvent.from_dict(raw)
    assert (event.kind, event.source, event.trusted) == ("email", "chat", False)
    assert (event.anonymous_id, event.email) == ("d-sally", "sally.doe@example.com")
    assert event.message_id == f"chat-email:{history['messages'][0]['id']}"
    got = await ask(
        bus, "conversation.get", conversation_id=history["conversation_id"], agent_id="a1"
    )
    assert got["conversation"]["email"] == "sally.doe@example.com"

    assert bus.js is not None
    info = await bus.js.stream_info(bus.subjects.events_stream)
    assert info.state.messages == 1, "stored durably for identity, once"


async def test_a_message_without_an_email_emits_nothing(chat, bus: Bus) -> None:
    events = await Frames.on(bus, bus.subjects.events(WS, "email"))
    await visitor_says(bus, "v-nomail", "my handle is @sally on example.com")
    await conversation_of(bus, "v-nomail")
    assert events.items == []


async def test_the_widget_email_prompt_stores_the_email_tells_the_agents_and_confirms_it(
    chat, bus: Bus
) -> None:
    await visitor_says(bus, "v-prompt", "hi")
    cid = (await conversation_of(bus, "v-prompt"))["conversation_id"]
    to_visitor = await Frames.on(bus, bus.subjects.live_visitor(WS, "v-prompt"))
    prompt = {
        "type": "visitor.email",
        "workspace_id": WS,
        "visitor_id": "v-prompt",
        "distinct_id": "v-prompt",
        "client_msg_id": "email-1",
        "email": " Sally@Example.COM ",
        "sent_at": "2026-01-01T00:00:00Z",
    }
    await bus.publish_durable(bus.subjects.chat_inbound(WS), prompt, f"{WS}:v-prompt:email-1")
    # the visitor is told where we will write, in their words, not the agents' line
    contact = await to_visitor.wait_for(lambda f: f["type"] == "contact")
    assert contact["email"] == "sally@example.com"
    assert to_visitor.matching(lambda f: f["type"] == "message") == []
    got = await ask(bus, "conversation.get", conversation_id=cid, agent_id="a1")
    assert got["conversation"]["email"] == "sally@example.com"
    note = got["messages"][-1]
    assert note["author"]["kind"] == "system" and "sally@example.com" in note["text"]
    assert note["internal"] is True  # the agents' line: never in the widget's history
    history = await ask(bus, "history", visitor_id="v-prompt")
    assert [m["text"] for m in history["messages"]] == ["hi"]
    assert history["email"] == "sally@example.com"


async def test_the_profile_is_resolved_later_when_identity_answers(chat, bus: Bus) -> None:
    await visitor_says(bus, "v-late", "identity is down right now")
    cid = (await conversation_of(bus, "v-late"))["conversation_id"]
    got = await ask(bus, "conversation.get", conversation_id=cid, agent_id="a1")
    assert got["conversation"]["profile_id"] is None, "stored without waiting for identity"

    agents = await Frames.on(bus, bus.subjects.live_agents(WS))
    await _play_identity(bus, {"v-late": "p-late"})
    await visitor_says(bus, "v-late", "and now?")
    frame = await agents.wait_for(
        lambda f: (
            f["type"] == "conversation.updated" and f["conversation"]["profile_id"] == "p-late"
        )
    )
    assert frame["conversation"]["id"] == cid


async def test_a_merge_re_points_conversations_to_the_survivor(chat, bus: Bus) -> None:
    await _play_identity(bus, {"d-phone": "p-phone", "d-laptop": "p-laptop"})
    await visitor_says(bus, "v-phone", "from my phone", distinct_id="d-phone")
    await visitor_says(bus, "v-laptop", "from my laptop", distinct_id="d-laptop")
    phone = (await conversation_of(bus, "v-phone"))["conversation_id"]
    laptop = (await conversation_of(bus, "v-laptop"))["conversation_id"]

    async def resolved() -> bool:
        found = await ask(bus, "conversations.by_profile", profile_id="p-phone")
        return [c["id"] for c in found["conversations"]] == [phone]

    await eventually(resolved)
    agents = await Frames.on(bus, bus.subjects.live_agents(WS))
    fact = {
        "workspace_id": WS,
        "survivor_id": "p-laptop",
        "merged_id": "p-phone",
        "at": "2026-01-01T00:00:00Z",
        "reason": "identify",
    }
    await bus.publish_durable(bus.subjects.identity_fact("merged"), fact, f"merged:{WS}:p-phone")

    async def merged() -> bool:
        found = await ask(bus, "conversations.by_profile", profile_id="p-laptop")
        return {c["id"] for c in found["conversations"]} == {phone, laptop}

    await eventually(merged)
    assert (await ask(bus, "conversations.by_profile", profile_id="p-phone"))["conversations"] == []
    frame = await agents.wait_for(
        lambda f: f["type"] == "conversation.updated" and f["conversation"]["id"] == phone
    )
    assert frame["conversation"]["profile_id"] == "p-laptop"
    previous = await ask(bus, "conversations.by_profile", profile_id="p-laptop", exclude_id=laptop)
    assert [c["id"] for c in previous["conversations"]] == [phone]
    by_ids = await ask(bus, "conversations.by_profile", distinct_ids=["d-phone"])
    assert [c["id"] for c in by_ids["conversations"]] == [phone]


async def test_a_merge_left_pending_by_a_crash_is_finished_without_a_restart(
    chat, aiohttp_server, settings: Settings, bus: Bus
) -> None:
    identity = await aiohttp_server(identity_app(settings, pending_every=0.2))
    db = identity.app[DB]
    await publish(
        bus, *[event(WS, "page", anonymous_id=d, source="widget", trusted=False) for d in "ab"]
    )
    await drained(bus)
    by_did = {d: await _person_of(db, d) for d in "ab"}
    older, newer = sorted(by_did.values(), key=lambda p: (p["created_at"], p["_id"]))
    newer_did = next(d for d, p in by_did.items() if p["_id"] == newer["_id"])
    # the visitor behind the newer profile chats: chat learns that profile from identity
    await visitor_says(bus, "v-pending", "hello", distinct_id=newer_did)
    cid = (await conversation_of(bus, "v-pending"))["conversation_id"]
    await _profile_becomes(bus, cid, newer["_id"])

    # a worker claimed the merge a minute ago and crashed before finishing it
    await db.persons.update_one(
        {"_id": newer["_id"]},
        {
            "$set": {
                "merged_into": older["_id"],
                "merge_pending": True,
                "merged_at": clock.now() - timedelta(minutes=1),
                "merge_reason": "identify",
            },
            "$inc": {"version": 1},
        },
    )
    # no restart, no new event: the periodic round finishes it, and chat follows
    await _profile_becomes(bus, cid, older["_id"])
    survivor = await db.persons.find_one({"_id": older["_id"]})
    assert newer["_id"] in survivor["merged_from"]
    assert await db.persons.count_documents({"merge_pending": True}) == 0
    assert (await _person_of(db, newer_did))["_id"] == older["_id"]


async def _person_of(db: Any, distinct_id: str) -> dict[str, Any]:
    did = await db.distinct_ids.find_one({"workspace_id": WS, "distinct_id": distinct_id})
    return await db.persons.find_one({"_id": did["person_id"]})


async def _profile_becomes(bus: Bus, conversation_id: str, profile_id: str) -> None:
    async def there() -> bool:
        got = await ask(bus, "conversation.get", conversation_id=conversation_id, agent_id="a1")
        return got["conversation"]["profile_id"] == profile_id

    await eventually(there, timeout=15)

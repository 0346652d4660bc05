"""Retention per workspace (issue 13 §4): set on the settings page, read by the services;
identity's sweep removes the events older than N days and chat's the resolved
conversations quiet for M days, never open nor recent ones; the counts on the metrics."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from services.dashboard import keys
from shared import clock
from shared.bus import Bus
from shared.settings import Settings
from shared.web import DB, WORKSPACES
from shared.workspaces import DEFAULT_WORKSPACE_ID
from tests.integration.chat_support import ask, conversation_of, visitor_says
from tests.integration.dashboard_support import sign_in, signed_in_client
from tests.integration.identity_support import Stack, drained
from tests.integration.test_operations import figure
from tests.support import eventually

REMOVED = "parley_retention_removed_total"
SWEEP_S = 0.3  # time compressed: a sweep every 0.3 s instead of every hour


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.with_changes(retention_sweep_s=SWEEP_S)


@pytest.fixture
async def services(start_service, fast: Settings) -> dict[str, TestServer]:
    return {name: await start_service(name, fast) for name in ("identity", "chat", "gateway")}


async def _retention(admin: Any, events: str, conversations: str) -> Any:
    return await admin.post(
        "/settings/retention",
        data={
            "csrf": admin.csrf,
            "retention_events_days": events,
            "retention_conversations_days": conversations,
        },
        allow_redirects=False,
    )


async def _workspace_says(server: TestServer, events: int, conversations: int) -> None:
    async def read() -> bool:
        ws = server.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID)
        return (
            ws is not None
            and ws.retention_events_days == events
            and ws.retention_conversations_days == conversations
        )

    await eventually(read, timeout=10)


async def _conversation(bus: Bus, chat: TestServer, status: str, quiet_days: int) -> str:
    visitor = "v-ret-" + uuid.uuid4().hex[:8]
    await visitor_says(bus, visitor, f"hello from a {status} one")
    cid = (await conversation_of(bus, visitor))["conversation_id"]
    if status != "open":
        await ask(bus, "conversation.update", conversation_id=cid, status=status)
    at = clock.now() - timedelta(days=quiet_days)
    await chat.app[DB]["conversations"].update_one(  # as if quiet since then
        {"_id": cid}, {"$set": {"last_activity_at": at}}
    )
    return cid


async def test_the_sweeps_remove_old_events_and_old_resolved_conversations_only(
    services: dict[str, TestServer], fast: Settings, bus: Bus, start_service, aiohttp_client
) -> None:
    identity, chat, gateway = services["identity"], services["chat"], services["gateway"]
    stack = Stack(gateway, fast, [identity])
    old = (clock.now() - timedelta(days=400)).isoformat()
    recent = (clock.now() - timedelta(days=2)).isoformat()
    sent: list[dict[str, Any]] = [
        {"type": "identify", "userId": "u-ret", "traits": {"plan": "pro"}},
        {"type": "track", "userId": "u-ret", "event": "Old one", "timestamp": old},
        {"type": "track", "userId": "u-ret", "event": "Old two", "timestamp": old},
        {"type": "track", "userId": "u-ret", "event": "Recent", "timestamp": recent},
    ]
    for m in sent:
        m["messageId"] = uuid.uuid4().hex
    status, body, _ = await stack.post("/v1/batch", {"batch": sent}, key=fast.secret_key)
    assert status == 200, body
    await drained(bus)
    profile = await stack.wait_profile(lambda p: True, user_id="u-ret")
    path = f"/v1/profiles/{profile['id']}/events"
    assert len((await stack.api(path))[1]["events"]) == 4, "nothing swept before retention"

    old_resolved = await _conversation(bus, chat, "resolved", 40)
    new_resolved = await _conversation(bus, chat, "resolved", 1)
    old_open = await _conversation(bus, chat, "open", 40)
    old_pending = await _conversation(bus, chat, "pending", 40)
    counted = (await ask(bus, "inbox.counts", agent_id="a-1"))["counts"]["all"]
    assert counted["resolved"] == 2
    events_before = await figure(identity, REMOVED, service="identity", kind="events")
    chats_before = await figure(chat, REMOVED, service="chat", kind="conversations")
    messages_before = await figure(chat, REMOVED, service="chat", kind="messages")
    thread = await chat.app[DB]["messages"].count_documents({"conversation_id": old_resolved})
    assert thread >= 2, "the visitor's message and the resolve's activity line"

    admin = await signed_in_client(start_service, aiohttp_client)
    saved = await _retention(admin, "30", "7")
    assert saved.status == 303
    page = await (await admin.get("/settings")).text()
    assert 'name="retention_events_days"' in page and 'value="30"' in page
    await _workspace_says(identity, 30, 7)

    async def events_swept() -> bool:
        _, got = await stack.api(path)
        return [e["event"] for e in got["events"]] == ["Identify", "Recent"]  # newest first

    await eventually(events_swept, timeout=10)

    async def conversation_gone() -> bool:
        got = await chat.app[DB]["conversations"].find_one({"_id": old_resolved})
        return got is None

    await eventually(conversation_gone, timeout=10)
    for kept in (new_resolved, old_open, old_pending):
        assert await chat.app[DB]["conversations"].find_one({"_id": kept}) is not None
    assert await chat.app[DB]["messages"].count_documents({"conversation_id": old_resolved}) == 0
    assert await chat.app[DB]["messages"].count_documents({"conversation_id": old_open}) >= 1
    counted = (await ask(bus, "inbox.counts", agent_id="a-1"))["counts"]["all"]
    assert counted["resolved"] == 1, "the inbox counts follow the sweep"

    assert await figure(identity, REMOVED, service="identity", kind="events") == events_before + 2
    assert await figure(chat, REMOVED, service="chat", kind="conversations") == chats_before + 1
    assert await figure(chat, REMOVED, service="chat", kind="messages") == messages_before + thread
    assert _profile_kept(await stack.api(f"/v1/profiles/{profile['id']}"))


def _profile_kept(answer: tuple[int, Any]) -> bool:
    status, body = answer
    return status == 200 and body["traits"].get("plan") == "pro"


async def test_every_retention_figure_is_on_the_metrics_from_the_start(
    services: dict[str, TestServer],
) -> None:
    from tests.integration.test_operations import scrape

    identity = await scrape(services["identity"])
    chat = await scrape(services["chat"])
    assert (REMOVED, frozenset({"service": "identity", "kind": "events"}.items())) in identity
    for kind in ("conversations", "messages"):
        assert (REMOVED, frozenset({"service": "chat", "kind": kind}.items())) in chat


@pytest.mark.parametrize(
    ("events", "conversations", "field"),
    [
        ("abc", "7", "retention_events_days"),
        ("-1", "7", "retention_events_days"),
        ("30", "99999999", "retention_conversations_days"),
        ("30", "1.5", "retention_conversations_days"),
    ],
)
async def test_the_retention_form_refuses_what_is_not_a_number_of_days(
    start_service, aiohttp_client, events: str, conversations: str, field: str
) -> None:
    admin = await signed_in_client(start_service, aiohttp_client)
    refused = await _retention(admin, events, conversations)
    assert refused.status == 400
    page = await refused.text()
    assert "form-error" in page and f'id="{field}"' in page
    server = admin.server
    assert isinstance(server, TestServer)
    ws = server.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID)
    assert ws is not None and ws.retention_events_days == 0 == ws.retention_conversations_days


async def test_only_admins_set_the_retention(start_service, aiohttp_client) -> None:
    admin = await signed_in_client(start_service, aiohttp_client)
    server = admin.server
    assert isinstance(server, TestServer)
    await server.app[keys.STORE].create_agent(
        "ann@example.com", "Ann", "a long secret", "agent", DEFAULT_WORKSPACE_ID
    )
    ann = await aiohttp_client(server)
    ann.csrf = await sign_in(ann, "ann@example.com", "a long secret")
    assert (await _retention(ann, "1", "1")).status == 403
    ws = server.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID)
    assert ws is not None and ws.retention_events_days == 0

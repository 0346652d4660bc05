"""Activity lines (services/chat/activity.py) against the real chat service: each change
writes one line in the thread, live to the agents, never to the visitor, never unread,
never a mail fact; routing's assignment says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.chat.activity import text_of
from shared.bus import Bus
from shared.schema.chat_requests import COLOURS
from tests.conftest import StartService
from tests.integration.chat_support import WS, Frames, ask, conversation_of, visitor_says
from tests.integration.test_chat_routing import (  # noqa: F401 - fixtures
    arrive,
    becomes,
    clock,
    edit,
    registry,
    route,
    start_chat,
)
from tests.support import eventually


async def activity_lines(bus: Bus, cid: str) -> list[dict[str, Any]]:
    page = await ask(bus, "conversation.messages", conversation_id=cid, after_seq=0, limit=100)
    return [m for m in page["messages"] if m.get("kind") == "activity"]


async def lines_become(bus: Bus, cid: str, texts: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def reached() -> bool:
        found[:] = await activity_lines(bus, cid)
        return [m["text"] for m in found] == texts

    try:
        await eventually(reached, timeout=10)
    except AssertionError:
        raise AssertionError(f"lines {[m['text'] for m in found]} != {texts}") from None
    return found


async def test_assign_resolve_reopen_snooze_write_lines_agents_only(
    start_service: StartService, bus: Bus
) -> None:
    await start_service("chat")
    visitor = await Frames.on(bus, bus.subjects.live_visitor(WS, "v-act"))
    agents = await Frames.on(bus, bus.subjects.live_agents(WS))
    facts = await Frames.on(bus, bus.subjects.chat_facts_all)
    await visitor_says(bus, "v-act", "my invoice is wrong")
    cid = (await conversation_of(bus, "v-act"))["conversation_id"]
    by = {"agent_id": "a-ann", "agent_name": "Ann"}

    await ask(
        bus, "conversation.update", conversation_id=cid, assignee_id="a-bob",
        assignee_name="Bob", **by,
    )  # fmt: skip
    await ask(bus, "conversation.update", conversation_id=cid, status="resolved", **by)
    await ask(bus, "conversation.update", conversation_id=cid, status="open", **by)
    until = (datetime.now(UTC) + timedelta(days=1)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    await ask(
        bus, "conversation.update", conversation_id=cid, status="snoozed",
        snoozed_until=until.isoformat(), **by,
    )  # fmt: skip
    await ask(bus, "conversation.update", conversation_id=cid, priority="high", **by)  # no line
    await ask(bus, "conversation.update", conversation_id=cid, assignee_id=None, **by)
    when = until.strftime("%d %b %Y %H:%M UTC")
    lines = await lines_become(
        bus,
        cid,
        [
            "Ann assigned this to Bob",
            "Ann resolved this",
            "Ann reopened this",
            f"Ann snoozed this until {when}",
            "Ann unassigned this",
        ],
    )
    assert [m["activity"]["type"] for m in lines] == [
        "assigned", "resolved", "reopened", "snoozed", "unassigned",
    ]  # fmt: skip
    assert lines[0]["activity"]["to"] == {"id": "a-bob", "name": "Bob"}
    assert lines[0]["activity"]["by"] == {"id": "a-ann", "name": "Ann"}
    assert all(m["internal"] and m["author"]["kind"] == "system" for m in lines)
    seqs = [m["seq"] for m in lines]
    assert seqs == sorted(seqs) and seqs[0] > 1  # in the thread, after the first message

    # each reached the agents live, as a message of the conversation
    ids = {m["id"] for m in lines}
    await agents.wait_for(lambda f: f.get("type") == "message" and f["message"]["id"] in ids)

    async def all_live() -> bool:
        sent = {f["message"]["id"] for f in agents.matching(lambda f: f.get("type") == "message")}
        return ids <= sent

    await eventually(all_live)

    # never to the visitor: not live, not in their history
    history = await ask(bus, "history", visitor_id="v-act")
    assert [m["text"] for m in history["messages"]] == ["my invoice is wrong"]
    assert not [f for f in visitor.items if f.get("type") == "message" and
                f["message"]["id"] in ids]  # fmt: skip
    # not unread, not the preview, not a mail fact
    got = await ask(bus, "conversation.get", conversation_id=cid, agent_id="a-ann")
    assert got["conversation"]["unread"] == 1
    assert got["conversation"]["last_message"]["text"] == "my invoice is wrong"
    assert not [f for f in facts.items if f.get("message", {}).get("id") in ids]


async def test_routing_assignment_says_so(start_chat, bus: Bus, registry) -> None:  # noqa: F811
    await start_chat()
    await visitor_says(bus, "v-routed", "hello")
    cid = (await conversation_of(bus, "v-routed"))["conversation_id"]
    await edit(registry, route("least_busy", ann=3))
    await arrive(bus, "ann")
    await becomes(bus, [cid], ["ann"])
    lines = await lines_become(bus, cid, ["Assigned to Ann by routing"])
    assert lines[0]["activity"]["by"] == {"id": None, "name": "routing"}


def test_label_lines_have_a_shape_to_hook_up() -> None:
    ann = {"id": "a-ann", "name": "Ann"}
    assert text_of("label_added", ann, {"label": "Billing"}) == "Ann added label Billing"
    assert text_of("label_removed", ann, {"label": "Billing"}) == "Ann removed label Billing"


async def test_label_changes_write_lines_by_the_one_path(
    start_service: StartService, bus: Bus
) -> None:
    await start_service("chat")
    await visitor_says(bus, "v-lab", "billing question")
    cid = (await conversation_of(bus, "v-lab"))["conversation_id"]
    billing = (await ask(bus, "label.save", name="Billing", colour=COLOURS[0]))["id"]
    vip = (await ask(bus, "label.save", name="VIP", colour=COLOURS[1]))["id"]

    await ask(bus, "conversation.labels", conversation_id=cid, agent_id="a-ann", add=[billing])
    await ask(bus, "conversations.bulk", conversation_ids=[cid], agent_id="a-ann", add_label=vip)
    await ask(bus, "conversation.labels", conversation_id=cid, agent_id="a-ann", remove=[billing])
    await ask(bus, "conversation.labels", conversation_id=cid, agent_id="a-ann", add=[vip])  # no-op
    lines = await lines_become(
        bus,
        cid,
        [
            "An agent added label Billing",
            "An agent added label VIP",
            "An agent removed label Billing",
        ],
    )
    assert [m["activity"]["type"] for m in lines] == ["label_added", "label_added", "label_removed"]


async def test_a_bulk_change_writes_the_lines_and_facts_of_single_changes(
    start_service: StartService, bus: Bus
) -> None:
    await start_service("chat")
    facts = await Frames.on(bus, bus.subjects.chat_facts_all)
    visitor = await Frames.on(bus, bus.subjects.live_visitor(WS, "v-bulk"))
    await visitor_says(bus, "v-bulk", "two things")
    cid = (await conversation_of(bus, "v-bulk"))["conversation_id"]
    await ask(bus, "conversations.bulk", conversation_ids=[cid], agent_id="a-ann",
              assignee_id="a-ann", status="resolved")  # fmt: skip
    await lines_become(bus, cid, ["An agent assigned this to an agent", "An agent resolved this"])
    await facts.wait_for(lambda f: f.get("kind") == "status_changed")
    await facts.wait_for(lambda f: f.get("kind") == "assigned")
    status = await visitor.wait_for(lambda f: f.get("type") == "status")
    assert status["status"] == "resolved"

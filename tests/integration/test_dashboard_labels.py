"""Labels (settings CRUD, the conversation control, the inbox filter and chips), the
views' counts, assignees on rows and bulk actions, through the real dashboard and chat."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from shared.bus import Bus
from tests.integration.chat_support import Frames, ask, conversation_of, visitor_says
from tests.integration.dashboard_support import signed_in_client

ROW = re.compile(r'<li class="row[^"]*" data-id="([^"]+)"')


@pytest.fixture
async def agent(start_service, aiohttp_client):
    return await signed_in_client(start_service, aiohttp_client, "chat")


async def post(agent, path: str, **data: str | list[tuple[str, str]]):
    return await agent.post(path, data={"csrf": agent.csrf, **data}, allow_redirects=False)


async def labels(bus: Bus) -> dict[str, dict]:
    return {lab["name"]: lab for lab in (await ask(bus, "labels.list"))["labels"]}


async def open_chats(bus: Bus, *visitors: str) -> list[str]:
    for v in visitors:
        await visitor_says(bus, v, f"hello from {v}")
    return [(await conversation_of(bus, v))["conversation_id"] for v in visitors]


async def test_admins_add_rename_recolour_and_delete_labels(agent, bus: Bus) -> None:
    assert (await post(agent, "/settings/labels", name="Billing", colour="blue")).status == 303
    assert (await post(agent, "/settings/labels", name="  Bug  ", colour="red")).status == 303
    found = await labels(bus)
    assert {n: lab["colour"] for n, lab in found.items()} == {"Billing": "blue", "Bug": "red"}
    dup = await post(agent, "/settings/labels", name="billing", colour="green")
    assert dup.status == 400, "names are unique in a workspace, whatever their case"
    raw = await post(agent, "/settings/labels", name="X", colour="#ff0000; background: url(x)")
    assert raw.status == 400, "only the palette's colours"
    bug = found["Bug"]["id"]
    edited = await post(agent, f"/settings/labels/{bug}", name="Defect", colour="purple")
    assert edited.status == 303
    assert (await labels(bus))["Defect"]["colour"] == "purple"
    page = await (await agent.get("/settings")).text()
    assert 'class="chip chip-purple">Defect<' in page

    [cid] = await open_chats(bus, "v-label-del")
    await post(agent, f"/conversations/{cid}/labels", add=bug)
    assert (await ask(bus, "conversation.get", conversation_id=cid))["conversation"]["labels"] == [
        bug
    ]
    assert (await post(agent, f"/settings/labels/{bug}/delete")).status == 303
    assert "Defect" not in await labels(bus)
    got = await ask(bus, "conversation.get", conversation_id=cid)
    assert got["conversation"]["labels"] == [], "a deleted label leaves every conversation"


async def test_conversation_labels_go_live_and_filter_the_inbox(agent, bus: Bus) -> None:
    await post(agent, "/settings/labels", name="VIP", colour="green")
    vip = (await labels(bus))["VIP"]["id"]
    tagged, plain = await open_chats(bus, "v-vip", "v-plain")
    frames = await Frames.on(bus, bus.subjects.live_agents("default"))
    assert (await post(agent, f"/conversations/{tagged}/labels", add=vip)).status == 303
    frame = await frames.wait_for(
        lambda f: f["type"] == "conversation.updated" and f["conversation"]["labels"] == [vip]
    )
    assert frame["conversation"]["id"] == tagged
    page = await (await agent.get(f"/conversations/{tagged}")).text()
    assert 'aria-label="Remove the label VIP"' in page
    fragment = await (await agent.get(f"/conversations/{tagged}/labels")).text()
    assert 'class="chip chip-green">VIP' in fragment

    inbox = await (await agent.get(f"/inbox?view=all&status=open&label={vip}")).text()
    assert ROW.findall(inbox) == [tagged]
    assert 'class="chip chip-green">VIP<' in inbox
    everything = await (await agent.get("/inbox?view=all&status=open")).text()
    assert set(ROW.findall(everything)) == {tagged, plain}
    unknown = await post(agent, f"/conversations/{tagged}/labels", add="no-such-label")
    assert unknown.status == 400

    assert (await post(agent, f"/conversations/{tagged}/labels", remove=vip)).status == 303
    inbox = await (await agent.get(f"/inbox?view=all&status=open&label={vip}")).text()
    assert ROW.findall(inbox) == []


async def test_rows_show_the_assignee_and_views_show_their_counts(agent, bus: Bus) -> None:
    mine, other = await open_chats(bus, "v-mine", "v-other")
    await post(agent, f"/conversations/{mine}/update", assignee="me")
    await post(agent, f"/conversations/{other}/update", assignee="none")  # whatever routing did
    html = await (await agent.get("/inbox?view=all&status=open")).text()
    assert 'class="row-assignee">Admin<' in html  # the admin's name
    assert 'class="row-assignee">Unassigned<' in html
    assert 'data-view-count="all">2<' in html
    assert 'data-view-count="mine">1<' in html
    assert 'data-view-count="unassigned">1<' in html
    await post(agent, f"/conversations/{other}/update", status="resolved")
    html = await (await agent.get("/inbox?view=all&status=open")).text()
    assert 'data-view-count="all">1<' in html and 'data-view-count="unassigned">0<' in html
    resolved = await (await agent.get("/inbox?view=all&status=resolved")).text()
    assert 'data-view-count="all">1<' in resolved


def announces(cid: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("conversation", {}).get("id") == cid


async def test_bulk_assign_label_and_resolve_in_one_request_each(agent, bus: Bus) -> None:
    await post(agent, "/settings/labels", name="Refund", colour="orange")
    refund = (await labels(bus))["Refund"]["id"]
    cids = await open_chats(bus, "v-bulk-1", "v-bulk-2", "v-bulk-3")
    frames = await Frames.on(bus, bus.subjects.live_agents("default"))
    asked = await Frames.on(bus, bus.subjects.request("chat", "conversations.bulk"))
    picked = [("id", cids[0]), ("id", cids[1])]
    form = [("csrf", agent.csrf), *picked, ("assignee", "me"), ("label", refund)]
    form.append(("back", "view=all&status=open"))
    done = await agent.post("/inbox/bulk", data=form, allow_redirects=False)
    assert done.status == 303 and done.headers["Location"] == "/inbox?view=all&status=open"
    assert len(asked.items) == 1, "one request to chat for the whole action"
    for cid in cids[:2]:
        c = (await ask(bus, "conversation.get", conversation_id=cid))["conversation"]
        assert c["assignee_id"] and c["labels"] == [refund]
        await frames.wait_for(announces(cid))
    third = (await ask(bus, "conversation.get", conversation_id=cids[2]))["conversation"]
    assert third["assignee_id"] is None and third["labels"] == []

    form = [("csrf", agent.csrf), *[("id", c) for c in cids], ("status", "resolved")]
    assert (await agent.post("/inbox/bulk", data=form, allow_redirects=False)).status == 303
    counts = (await ask(bus, "inbox.counts", agent_id=c["assignee_id"]))["counts"]
    assert counts["all"]["resolved"] == 3 and counts["all"]["open"] == 0
    assert counts["mine"]["resolved"] == 2

    audit = await (await agent.get("/audit")).text()
    assert "Changed conversations in bulk" in audit
    nothing = await agent.post("/inbox/bulk", data=[("csrf", agent.csrf), *picked])
    assert nothing.status == 400
    stranger = [("csrf", agent.csrf), *picked, ("assignee", "agent-nobody")]
    assert (await agent.post("/inbox/bulk", data=stranger)).status == 400

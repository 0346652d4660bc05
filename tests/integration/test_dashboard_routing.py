"""The dashboard's presence and routing controls write the workspace every chat replica
routes by: Available / Away in the rail, routing and auto-away on Settings, each agent's
capacity on Team, and the inbox's Queue view."""

from __future__ import annotations

import re

import pytest

from shared.web import WORKSPACES
from shared.workspaces import DEFAULT_CAPACITY, DEFAULT_WORKSPACE_ID, Workspace
from tests.integration.chat_support import conversation_of, visitor_says
from tests.integration.dashboard_support import signed_in_client
from tests.support import eventually


@pytest.fixture
async def admin(start_service, aiohttp_client):
    return await signed_in_client(start_service, aiohttp_client)


async def seen_by_chat(chat, check) -> Workspace:
    """The chat service's own copy of the workspace, once `check` holds for it."""
    registry = chat.app[WORKSPACES]
    found: list[Workspace] = []

    async def seen() -> bool:
        ws = registry.get(DEFAULT_WORKSPACE_ID)
        found[:] = [ws] if ws is not None and check(ws) else []
        return bool(found)

    await eventually(seen)
    return found[0]


async def test_the_rail_sets_away_and_available_and_the_rail_shows_it(admin, chat) -> None:
    inbox = await (await admin.get("/inbox")).text()
    assert 'data-presence="available"' in inbox
    agent_id = re.search(r'data-agent-id="([^"]+)"', inbox).group(1)  # type: ignore[union-attr]

    form = {"csrf": admin.csrf, "presence": "away", "back": "/contacts"}
    response = await admin.post("/me/presence", data=form, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/contacts"
    await seen_by_chat(chat, lambda ws: ws.away_agents == [agent_id])
    assert 'data-presence="away"' in await (await admin.get("/inbox")).text()

    # a `back` off this site is not followed
    form = {"csrf": admin.csrf, "presence": "available", "back": "//evil.example/"}
    response = await admin.post("/me/presence", data=form, allow_redirects=False)
    assert response.headers["Location"] == "/inbox"
    await seen_by_chat(chat, lambda ws: ws.away_agents == [])

    bad = await admin.post("/me/presence", data={"csrf": admin.csrf, "presence": "gone"})
    assert bad.status == 400
    no_csrf = await admin.post("/me/presence", data={"presence": "away"})
    assert no_csrf.status == 403


async def test_settings_save_routing_and_auto_away_and_refuse_nonsense(admin, chat) -> None:
    form = {"csrf": admin.csrf, "routing": "least_busy", "auto_away_minutes": "15"}
    response = await admin.post("/settings/routing", data=form, allow_redirects=False)
    assert response.status == 303
    await seen_by_chat(chat, lambda ws: ws.routing == "least_busy" and ws.auto_away_minutes == 15)
    html = await (await admin.get("/settings")).text()
    assert '<option value="least_busy" selected>' in html

    for bad in ({"routing": "random"}, {"routing": "off", "auto_away_minutes": "-1"}):
        response = await admin.post("/settings/routing", data={"csrf": admin.csrf, **bad})
        assert response.status == 400
    await seen_by_chat(chat, lambda ws: ws.routing == "least_busy")


async def test_team_sets_each_agents_capacity(admin, chat) -> None:
    html = await (await admin.get("/team")).text()
    agent_id = re.search(r'data-agent-id="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    assert f'id="capacity-{agent_id}"' in html and f'value="{DEFAULT_CAPACITY}"' in html

    url = f"/team/agents/{agent_id}/capacity"
    response = await admin.post(url, data={"csrf": admin.csrf, "capacity": "3"})
    assert response.status == 200  # followed to /team
    await seen_by_chat(chat, lambda ws: ws.capacity_of(agent_id) == 3)
    assert (await admin.post(url, data={"csrf": admin.csrf, "capacity": "x"})).status == 400
    unknown = "/team/agents/nobody/capacity"
    assert (await admin.post(unknown, data={"csrf": admin.csrf, "capacity": "2"})).status == 404


async def test_the_queue_view_lists_open_unassigned_conversations(admin, chat, bus) -> None:
    await visitor_says(bus, "waiting-visitor", "is anyone there?")
    conversation = await conversation_of(bus, "waiting-visitor")
    html = await (await admin.get("/inbox?view=queue&status=resolved")).text()
    assert conversation["conversation_id"] in html  # the queue is open ones, whatever the tab
    assert "<h1>Queue</h1>" in html

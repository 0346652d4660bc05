"""Two workspaces on one deployment: created in the dashboard, live at the gateway
without a restart, and isolated: no key, session or socket of one reads or changes
anything of the other (profiles, events, conversations, settings, labels)."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.dashboard import keys
from shared.web import WORKSPACES
from shared.workspaces import DEFAULT_WORKSPACE_ID, Workspace
from tests.integration.dashboard_support import Client, csrf_of, sign_in, signed_in_client
from tests.integration.visitor_ws_client import Visitor
from tests.support import basic_auth, eventually

AGENT_EMAIL = "second@example.com"
AGENT_PASSWORD = "another long passphrase"


@dataclass
class Deployment:
    admin: Client
    dashboard: TestServer
    gateway: TestServer
    default: Workspace
    other: Workspace  # created by the admin in the dashboard, in this test


def origin(client: Client) -> str:
    return str(client.make_url("/")).rstrip("/")


async def create_workspace(admin: Client, name: str) -> Workspace:
    registry = cast(TestServer, admin.server).app[WORKSPACES]
    before = {w.id for w in registry.all()}
    created = await admin.post("/workspaces", data={"name": name, "csrf": admin.csrf})
    assert created.status == 200 and created.url.path == "/settings", await created.text()
    fresh = [w for w in registry.all() if w.id not in before]
    assert len(fresh) == 1 and fresh[0].name == name
    html = await created.text()
    # the settings page is the new workspace's: its own, newly generated keys
    assert fresh[0].write_key in html and fresh[0].secret_key in html
    return fresh[0]


@pytest.fixture
async def deployment(start_service, aiohttp_client) -> Deployment:
    admin = await signed_in_client(start_service, aiohttp_client, "identity", "chat")
    gateway = await start_service("gateway")
    dashboard = cast(TestServer, admin.server)
    default = dashboard.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID)
    assert default is not None
    other = await create_workspace(admin, "Shop B")
    return Deployment(admin, dashboard, gateway, default, other)


async def switch(client: Client, workspace_id: str) -> aiohttp.ClientResponse:
    return await client.post(
        "/workspaces/switch",
        data={"workspace_id": workspace_id, "csrf": client.csrf},
        allow_redirects=False,
    )


async def api(gateway: TestServer, method: str, path: str, key: str, body: Any = None):
    async with aiohttp.ClientSession() as session:
        async with session.request(
            method, gateway.make_url(path), json=body, headers=basic_auth(key)
        ) as resp:
            return resp.status, await resp.json(content_type=None)


async def identify(gateway: TestServer, key: str, user_id: str, email: str) -> None:
    batch: list[dict[str, Any]] = [
        {"type": "identify", "userId": user_id, "traits": {"email": email}},
        {"type": "track", "userId": user_id, "event": "Signed Up"},
    ]
    for message in batch:
        message["messageId"] = uuid.uuid4().hex
    status, body = await api(gateway, "POST", "/v1/batch", key, {"batch": batch})
    assert status == 200, body


async def profile_of(gateway: TestServer, key: str, user_id: str) -> dict | None:
    status, body = await api(gateway, "GET", f"/v1/profiles?user_id={user_id}", key)
    assert status == 200, body
    return body["profiles"][0] if body["profiles"] else None


async def chat_in(
    d: Deployment, ws: Workspace, text: str, gateway: TestServer | None = None
) -> tuple[Visitor, str]:
    """A visitor of `ws` says `text` through the gateway; the conversation's id."""
    visitor = await Visitor.connect(gateway or d.gateway, ws.write_key)
    await visitor.say(text)
    frame = await visitor.wait_for(lambda f: f["type"] == "message")
    return visitor, frame["message"]["conversation_id"]


async def open_socket(client: Client) -> aiohttp.ClientWebSocketResponse:
    ws = await client.ws_connect(f"/ws?csrf={client.csrf}", headers={"Origin": origin(client)})
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    return ws


async def frames_until(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[dict]:
    got: list[dict] = []
    try:
        async with asyncio.timeout(seconds):
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    got.append(json.loads(msg.data))
    except TimeoutError:
        pass
    return got


async def test_a_new_workspace_is_live_at_every_gateway_without_a_restart(
    deployment, start_service
) -> None:
    d = deployment
    replica = await start_service("gateway")  # a second gateway replica, up before the next one
    third = await create_workspace(d.admin, "Shop C")
    # both learned the workspaces over the bucket's watch (neither was restarted)
    for gateway in (d.gateway, replica):
        for ws in (d.other, third):
            await eventually(functools.partial(_known, gateway, ws.id))
    for gateway, ws, user in ((d.gateway, d.other, "b-user"), (replica, third, "c-user")):
        await identify(gateway, ws.secret_key, user, f"{user}@example.com")
        await eventually(functools.partial(_has, gateway, ws, user))
    for gateway in (d.gateway, replica):
        visitor, _ = await chat_in(d, third, "hello from shop C", gateway)
        await visitor.close()


async def _has(gateway: TestServer, ws: Workspace, user_id: str) -> bool:
    return await profile_of(gateway, ws.secret_key, user_id) is not None


async def _known(gateway: TestServer, workspace_id: str) -> bool:
    return gateway.app[WORKSPACES].get(workspace_id) is not None


async def test_keys_of_one_workspace_never_read_or_change_the_other(deployment) -> None:
    d = deployment
    await eventually(lambda: _known(d.gateway, d.other.id))
    await identify(d.gateway, d.default.secret_key, "a-user", "a@example.com")
    await identify(d.gateway, d.other.secret_key, "b-user", "b@example.com")
    seen: dict[str, Any] = {}

    async def both() -> bool:
        seen["a"] = await profile_of(d.gateway, d.default.secret_key, "a-user")
        seen["b"] = await profile_of(d.gateway, d.other.secret_key, "b-user")
        return seen["a"] is not None and seen["b"] is not None

    await eventually(both)
    # the other's secret key: no profile, by user id or by profile id, and no events
    assert await profile_of(d.gateway, d.other.secret_key, "a-user") is None
    assert await profile_of(d.gateway, d.default.secret_key, "b-user") is None
    for key, profile in ((d.other.secret_key, seen["a"]), (d.default.secret_key, seen["b"])):
        status, _ = await api(d.gateway, "GET", f"/v1/profiles/{profile['id']}", key)
        assert status == 404
        status, _ = await api(d.gateway, "GET", f"/v1/profiles/{profile['id']}/events", key)
        assert status == 404
        status, _ = await api(d.gateway, "DELETE", f"/v1/profiles/{profile['id']}", key)
        assert status == 404
    # and the own key still reads its own, events included (the checks above can fail)
    status, events = await api(
        d.gateway, "GET", f"/v1/profiles/{seen['b']['id']}/events", d.other.secret_key
    )
    assert status == 200 and any(e.get("event") == "Signed Up" for e in events["events"])
    # the dashboard's pages by profile id: B's session finds B's person, never A's
    admin = d.admin  # in B, which it created
    for path in ("", "/export", "/delete"):
        assert (await admin.get(f"/contacts/{seen['b']['id']}{path}")).status == 200, path
        assert (await admin.get(f"/contacts/{seen['a']['id']}{path}")).status == 404, path
    erase = await admin.post(
        f"/contacts/{seen['a']['id']}/delete", data={"csrf": admin.csrf}, allow_redirects=False
    )
    assert erase.status == 404
    assert await profile_of(d.gateway, d.default.secret_key, "a-user") is not None

    # the event debugger: each workspace's admins see their own workspace's events only
    await eventually(lambda: _debugger_shows(admin, "b-user"))
    assert ">a-user<" not in await (await admin.get("/debugger")).text()
    assert (await switch(admin, DEFAULT_WORKSPACE_ID)).status == 303
    await eventually(lambda: _debugger_shows(admin, "a-user"))
    polled = await (await admin.get("/debugger/events?after=0")).json()
    assert polled["entries"] and all(e.get("user_id") != "b-user" for e in polled["entries"])
    assert ">b-user<" not in await (await admin.get("/debugger")).text()
    # a write with B's key lands in B only: A's "a-user" is untouched
    await identify(d.gateway, d.other.secret_key, "a-user", "intruder@example.com")
    await eventually(lambda: _has_profile(d, d.other.secret_key, "a-user"))
    again = await profile_of(d.gateway, d.default.secret_key, "a-user")
    assert again is not None and again["id"] == seen["a"]["id"]
    assert again["traits"].get("email") == "a@example.com"


async def _debugger_shows(admin: Client, user_id: str) -> bool:
    return f">{user_id}<" in await (await admin.get("/debugger")).text()


async def _has_profile(d: Deployment, key: str, user_id: str) -> bool:
    return await profile_of(d.gateway, key, user_id) is not None


async def test_sessions_and_sockets_see_only_the_chosen_workspace(deployment) -> None:
    d = deployment
    admin = d.admin
    # the creator works in the new workspace now; back to the default one
    assert (await switch(admin, DEFAULT_WORKSPACE_ID)).status == 303
    socket_a = await open_socket(admin)
    visitor_b, conversation_b = await chat_in(d, d.other, "only for shop B")
    visitor_a, conversation_a = await chat_in(d, d.default, "only for the default site")

    # pages and API calls by id: the other workspace's conversation does not exist here
    assert (await admin.get(f"/conversations/{conversation_b}")).status == 404
    assert (await admin.get(f"/conversations/{conversation_a}")).status == 200
    posted = await admin.post(
        f"/api/conversations/{conversation_b}/messages",
        json={"text": "leak?", "client_msg_id": "c-leak"},
        headers={"X-CSRF-Token": admin.csrf},
    )
    assert posted.status == 404
    reply = await admin.post(
        f"/conversations/{conversation_b}/update",
        data={"csrf": admin.csrf, "status": "resolved"},
        allow_redirects=False,
    )
    assert reply.status in (400, 404)
    replied = await admin.post(
        f"/conversations/{conversation_b}/reply",
        data={"csrf": admin.csrf, "text": "leak by form?"},
        allow_redirects=False,
    )
    assert replied.status == 404
    labelled = await admin.post(
        f"/conversations/{conversation_b}/labels",
        data={"csrf": admin.csrf, "add": "anything"},
        allow_redirects=False,
    )
    assert labelled.status in (400, 404)
    assert (await admin.get(f"/conversations/{conversation_b}/sidebar")).status == 404
    inbox = await (await admin.get("/inbox")).text()
    assert conversation_a in inbox and conversation_b not in inbox

    # the socket of the default workspace hears its own visitor, never B's; its typing
    # frame naming B's conversation reaches nobody
    await socket_a.send_json({"type": "typing", "conversation_id": conversation_b, "typing": True})
    await visitor_b.say("still only shop B")
    await visitor_a.say("for the default site again")
    frames = await frames_until(socket_a, 3)
    texts = [f["message"]["text"] for f in frames if f.get("type") == "message"]
    assert "for the default site again" in texts and "still only shop B" not in texts
    assert all(conversation_b not in json.dumps(f) for f in frames)
    assert not visitor_b.matching(lambda f: f["type"] == "typing")
    leaked = [m for m in visitor_b.messages() if m["text"].startswith("leak")]
    assert leaked == []

    # switched to B: the same session sees B's, not A's
    assert (await switch(admin, d.other.id)).status == 303
    assert (await admin.get(f"/conversations/{conversation_b}")).status == 200
    assert (await admin.get(f"/conversations/{conversation_a}")).status == 404
    socket_b = await open_socket(admin)
    await visitor_a.say("default site, third")
    await visitor_b.say("shop B, third")
    frames = await frames_until(socket_b, 3)
    texts = [f["message"]["text"] for f in frames if f.get("type") == "message"]
    assert "shop B, third" in texts and "default site, third" not in texts
    for s in (socket_a, socket_b):
        await s.close()
    for v in (visitor_a, visitor_b):
        await v.close()


async def test_settings_and_labels_change_only_the_chosen_workspace(deployment) -> None:
    d = deployment
    admin = d.admin  # in B (it just created it)
    saved = await admin.post(
        "/settings/widget",
        data={
            "csrf": admin.csrf,
            "allowed_origins": "https://shop-b.example",
            "away_message": "Shop B is closed",
        },
        allow_redirects=False,
    )
    assert saved.status == 303, await saved.text()
    rotated = await admin.post(
        "/settings/keys", data={"key": "secret_key", "grace": "0", "csrf": admin.csrf}
    )
    assert rotated.status == 200
    label = await admin.post(
        "/settings/labels",
        data={"csrf": admin.csrf, "name": "shop-b-only", "colour": "red"},
        allow_redirects=False,
    )
    assert label.status == 303, await label.text()
    registry = d.dashboard.app[WORKSPACES]
    other, default = registry.get(d.other.id), registry.get(DEFAULT_WORKSPACE_ID)
    assert other is not None and default is not None
    assert other.allowed_origins == ["https://shop-b.example"]
    assert other.away_message == "Shop B is closed" and other.secret_key != d.other.secret_key
    # the default workspace is as it was
    assert default.allowed_origins == d.default.allowed_origins
    assert default.away_message == d.default.away_message
    assert default.secret_key == d.default.secret_key
    # at the gateway: B's old secret key is refused at once, its new one works, A's is intact
    await eventually(lambda: _status_is(d.gateway, d.other.secret_key, 401))
    assert await _status_is(d.gateway, other.secret_key, 200)
    assert await _status_is(d.gateway, d.default.secret_key, 200)
    # the gateway enforces B's origins on B, not on the default site
    await eventually(lambda: _origins_seen(d.gateway, d.other.id))
    refused = await Visitor.connect(d.gateway, d.other.write_key, hello=False)
    await refused.closed.wait()
    await refused.close()
    welcome = await Visitor.connect(d.gateway, d.default.write_key)
    await welcome.close()

    html_b = await (await admin.get("/settings")).text()
    assert "shop-b-only" in html_b and "Shop B is closed" in html_b
    # the mail catcher holds every workspace's email: the default workspace's admins only
    assert 'href="/mail"' not in html_b
    assert (await admin.get("/mail")).status == 403
    assert (await switch(admin, DEFAULT_WORKSPACE_ID)).status == 303
    html_a = await (await admin.get("/settings")).text()
    assert "shop-b-only" not in html_a and "Shop B is closed" not in html_a
    assert d.default.write_key in html_a and d.other.write_key not in html_a
    assert 'href="/mail"' in html_a


async def _status_is(gateway: TestServer, key: str, status: int) -> bool:
    got, _ = await api(gateway, "GET", "/v1/profiles?user_id=nobody", key)
    return got == status


async def _origins_seen(gateway: TestServer, workspace_id: str) -> bool:
    found = gateway.app[WORKSPACES].get(workspace_id)
    return found is not None and found.allowed_origins == ["https://shop-b.example"]


async def second_agent(d: Deployment, aiohttp_client) -> Client:
    """An agent of the default workspace (role agent), signed in through the form."""
    await d.dashboard.app[keys.STORE].create_agent(
        AGENT_EMAIL, "Second", AGENT_PASSWORD, "agent", DEFAULT_WORKSPACE_ID
    )
    client = await aiohttp_client(d.dashboard)
    client.csrf = await sign_in(client, AGENT_EMAIL, AGENT_PASSWORD)
    return client


async def test_membership_and_role_per_workspace_checked_on_every_request(
    deployment, aiohttp_client
) -> None:
    d = deployment
    admin = d.admin  # admin of B, its creator
    agent = await second_agent(d, aiohttp_client)
    visitor_b, conversation_b = await chat_in(d, d.other, "a question for shop B")

    # not a member: no switching there, nothing of B by id
    assert (await switch(agent, d.other.id)).status == 403
    assert (await agent.get(f"/conversations/{conversation_b}")).status == 404
    mine = await (await agent.get("/workspaces")).text()
    assert "Shop B" not in mine

    # B's admin adds them, as an admin of B (they stay an agent of the default workspace)
    added = await admin.post(
        "/team/members",
        data={"csrf": admin.csrf, "email": AGENT_EMAIL.upper(), "role": "admin"},
        allow_redirects=False,
    )
    assert added.status == 303, await added.text()
    again = await admin.post(
        "/team/members", data={"csrf": admin.csrf, "email": AGENT_EMAIL, "role": "agent"}
    )
    assert again.status == 409
    stranger = await admin.post(
        "/team/members", data={"csrf": admin.csrf, "email": "nobody@example.com"}
    )
    assert stranger.status == 404
    team = await (await admin.get("/team")).text()
    assert AGENT_EMAIL in team and "Remove from workspace" in team

    assert (await agent.get("/settings")).status == 403  # an agent in the default one
    assert (await switch(agent, d.other.id)).status == 303
    assert (await agent.get("/settings")).status == 200  # an admin in B
    assert (await agent.get(f"/conversations/{conversation_b}")).status == 200
    switcher = await (await agent.get("/inbox")).text()
    assert re.search(rf'<option value="{d.other.id}" selected>Shop B</option>', switcher)
    socket = await open_socket(agent)

    # removed: the socket closes and the very next request is no longer in B
    removed = await admin.post(
        f"/team/agents/{(await _agent_id(d))}/remove",
        data={"csrf": admin.csrf},
        allow_redirects=False,
    )
    assert removed.status == 303
    await frames_until(socket, 5)  # ends when the server closes it
    assert socket.closed
    assert (await agent.get(f"/conversations/{conversation_b}")).status == 404
    assert (await agent.get("/settings")).status == 403
    assert (await switch(agent, d.other.id)).status == 403
    page = await (await agent.get("/inbox")).text()
    assert conversation_b not in page and csrf_of(page) == agent.csrf
    await visitor_b.close()


async def _agent_id(d: Deployment) -> str:
    found = await d.dashboard.app[keys.STORE].agent_by_email(AGENT_EMAIL)
    assert found is not None
    return str(found["_id"])


async def test_creating_workspaces_is_for_admins_and_names_are_checked(
    deployment, aiohttp_client
) -> None:
    d = deployment
    agent = await second_agent(d, aiohttp_client)
    refused = await agent.post("/workspaces", data={"csrf": agent.csrf, "name": "Mine"})
    assert refused.status == 403
    for name in ("", " " * 5, "x" * 81, "bad\u0000name", "tab\u200bhidden"):
        response = await d.admin.post("/workspaces", data={"csrf": d.admin.csrf, "name": name})
        assert response.status == 400, name
    forged = await d.admin.post(
        "/workspaces", data={"name": "Forged"}, headers={"Origin": "https://evil.example"}
    )
    assert forged.status == 403
    for bogus in ("", "x" * 101, "default:ag_x", "ws_nope"):
        assert (await switch(d.admin, bogus)).status in (400, 403), bogus
    names = {w.name for w in d.dashboard.app[WORKSPACES].all()}
    assert "Mine" not in names and "Forged" not in names
    # its admin renames the current workspace (B); an agent cannot, and bad names are refused
    renamed = await d.admin.post(
        "/workspaces/rename", data={"csrf": d.admin.csrf, "name": "  Shop   Bee "}
    )
    assert renamed.status == 200 and "Shop Bee" in await renamed.text()
    found = d.dashboard.app[WORKSPACES].get(d.other.id)
    assert found is not None and found.name == "Shop Bee"
    bad = await d.admin.post("/workspaces/rename", data={"csrf": d.admin.csrf, "name": ""})
    assert bad.status == 400
    refused = await agent.post("/workspaces/rename", data={"csrf": agent.csrf, "name": "X"})
    assert refused.status == 403
    default = d.dashboard.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID)
    assert default is not None and default.name == d.default.name


async def test_an_invitation_made_in_a_workspace_makes_it_the_new_agents_home(
    deployment, aiohttp_client
) -> None:
    d = deployment
    admin = d.admin  # in B
    visitor_a, conversation_a = await chat_in(d, d.default, "for the default site")
    made = await admin.post(
        "/team/invite", data={"email": "carol@example.com", "role": "agent", "csrf": admin.csrf}
    )
    assert made.status == 200
    html = await made.text()
    link = html.split('id="invite-link" class="mono" readonly value="')[1].split('"')[0]
    path = "/invite/" + link.rsplit("/invite/", 1)[1]
    carol = await aiohttp_client(d.dashboard)
    form = await carol.get(path)
    joined = await carol.post(
        path,
        data={
            "name": "Carol",
            "password": "carol's long secret",
            "csrf": csrf_of(await form.text()),
        },
        allow_redirects=False,
    )
    assert joined.status == 303
    carol.csrf = csrf_of(await (await carol.get("/inbox")).text())
    mine = await (await carol.get("/workspaces")).text()
    assert "Shop B" in mine and "Default workspace" not in mine
    assert (await carol.get(f"/conversations/{conversation_a}")).status == 404
    assert (await switch(carol, DEFAULT_WORKSPACE_ID)).status == 403
    # B's team lists her; the default workspace's does not
    assert "carol@example.com" in await (await admin.get("/team")).text()
    assert (await switch(admin, DEFAULT_WORKSPACE_ID)).status == 303
    assert "carol@example.com" not in await (await admin.get("/team")).text()
    await visitor_a.close()


async def test_a_removed_member_loses_access_at_once_on_every_dashboard_replica(
    deployment, start_service, aiohttp_client
) -> None:
    d = deployment
    admin = d.admin  # in B, on the first replica
    replica = await start_service("dashboard")
    await d.dashboard.app[keys.STORE].create_agent(
        AGENT_EMAIL, "Second", AGENT_PASSWORD, "agent", DEFAULT_WORKSPACE_ID
    )
    added = await admin.post(
        "/team/members",
        data={"csrf": admin.csrf, "email": AGENT_EMAIL, "role": "agent"},
        allow_redirects=False,
    )
    assert added.status == 303
    visitor_b, conversation_b = await chat_in(d, d.other, "shop B, asked on replica two")
    agent = await aiohttp_client(replica)  # signed in on the other replica
    agent.csrf = await sign_in(agent, AGENT_EMAIL, AGENT_PASSWORD)
    assert (await switch(agent, d.other.id)).status == 303
    assert (await agent.get(f"/conversations/{conversation_b}")).status == 200
    socket = await open_socket(agent)

    removed = await admin.post(
        f"/team/agents/{await _agent_id(d)}/remove",
        data={"csrf": admin.csrf},
        allow_redirects=False,
    )
    assert removed.status == 303
    await frames_until(socket, 5)  # closed by the other replica, told over NATS
    assert socket.closed
    # well within the session cache's 2 s: the announcement made the replica forget it
    assert (await agent.get(f"/conversations/{conversation_b}")).status == 404
    await visitor_b.close()


async def test_webhook_endpoints_belong_to_one_workspace(deployment, start_service) -> None:
    d = deployment
    admin = d.admin  # in B
    await start_service("webhooks")
    made = await admin.post(
        "/settings/webhooks",
        data={
            "csrf": admin.csrf,
            "url": "https://hooks.shop-b.example/parley",
            "topics": "conversation.created",
            "enabled": "on",
        },
        allow_redirects=False,
    )
    assert made.status == 303, await made.text()
    endpoint = made.headers["Location"].split("/settings/webhooks/")[1].split("?")[0]
    assert (await admin.get(f"/settings/webhooks/{endpoint}")).status == 200
    status, listed = await api(d.gateway, "GET", "/v1/webhooks", d.other.secret_key)
    assert status == 200 and [w["id"] for w in listed["webhooks"]] == [endpoint]
    # A's secret key: not listed, not found, not deleted
    status, listed = await api(d.gateway, "GET", "/v1/webhooks", d.default.secret_key)
    assert status == 200 and listed["webhooks"] == []
    for method in ("GET", "DELETE"):
        status, _ = await api(d.gateway, method, f"/v1/webhooks/{endpoint}", d.default.secret_key)
        assert status == 404, method
    # A's dashboard session: the same
    assert (await switch(admin, DEFAULT_WORKSPACE_ID)).status == 303
    assert endpoint not in await (await admin.get("/settings/webhooks")).text()
    assert (await admin.get(f"/settings/webhooks/{endpoint}")).status == 404
    deleted = await admin.post(
        f"/settings/webhooks/{endpoint}/delete", data={"csrf": admin.csrf}, allow_redirects=False
    )
    assert deleted.status == 404
    status, _ = await api(d.gateway, "GET", f"/v1/webhooks/{endpoint}", d.other.secret_key)
    assert status == 200  # still B's

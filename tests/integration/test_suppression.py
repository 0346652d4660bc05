"""Suppression with delete (issue 13 §4): a person deleted with `suppress` has every later
event naming one of their ids dropped at every gateway replica and counted (the metric,
the record the dashboard shows), until an admin lifts it; then their events are taken again."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.dashboard import keys
from services.gateway.suppressions_api import SUPPRESSIONS
from shared.workspaces import DEFAULT_WORKSPACE_ID
from tests.integration.dashboard_support import sign_in, signed_in_client
from tests.integration.identity_support import Stack, drained
from tests.integration.test_operations import figure
from tests.integration.visitor_ws_client import Visitor
from tests.support import basic_auth, eventually

DROPPED = "parley_ingest_suppressed_total"


@pytest.fixture
async def stack(start_service, settings) -> Stack:
    identity = await start_service("identity")
    await start_service("chat")
    gateway = await start_service("gateway")
    return Stack(gateway, settings, [identity])


def _url(server: TestServer) -> str:
    return f"http://127.0.0.1:{server.port}"


async def _call(
    server: TestServer, method: str, path: str, key: str, body: Any = None
) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.request(
            method, _url(server) + path, json=body, headers=basic_auth(key)
        ) as resp:
            return resp.status, await resp.json()


async def _batch(server: TestServer, key: str, messages: list[dict[str, Any]]) -> Any:
    for m in messages:
        m.setdefault("messageId", uuid.uuid4().hex)
    status, body = await _call(server, "POST", "/v1/batch", key, {"batch": messages})
    assert status == 200, body
    return body


async def _known(stack: Stack, user_id: str, anon: str) -> dict[str, Any]:
    await _batch(
        stack.gateway,
        stack.settings.secret_key,
        [
            {"type": "identify", "userId": user_id, "anonymousId": anon, "traits": {"n": 1}},
            {"type": "track", "userId": user_id, "event": "Signed up"},
        ],
    )
    return await stack.wait_profile(lambda p: p["user_id"] == user_id, user_id=user_id)


async def _learned(server: TestServer, count: int) -> None:
    async def known() -> bool:
        return len(server.app[SUPPRESSIONS].of_workspace(DEFAULT_WORKSPACE_ID)) == count

    await eventually(known, timeout=10)


async def test_suppressed_ids_are_dropped_on_every_replica_counted_and_taken_again_once_lifted(
    stack: Stack, start_service, bus
) -> None:
    other = await start_service("gateway")  # a second replica: learns it over NATS
    key = stack.settings.secret_key
    anon = "anon-" + uuid.uuid4().hex[:8]
    person = await _known(stack, "u-sup", anon)

    status, answer = await _call(
        stack.gateway, "DELETE", f"/v1/profiles/{person['id']}?suppress=true", key
    )
    assert status == 200, answer
    sid = answer["suppression_id"]
    assert sid
    await _learned(other, 1)
    before = await figure(other, DROPPED)

    body = await _batch(
        other,
        key,
        [
            {"type": "track", "userId": "u-sup", "event": "Came back"},
            {"type": "page", "anonymousId": anon, "name": "Home"},
            {"type": "identify", "userId": "u-fresh", "anonymousId": "a-fresh"},
        ],
    )
    assert body.get("rejected") is None, "a dropped message is not a refusal the client sees"
    await drained(bus)
    await stack.wait_profile(lambda p: True, user_id="u-fresh")
    assert await stack.profiles(user_id="u-sup") == []
    assert await stack.profiles(distinct_id=anon) == []
    assert await figure(other, DROPPED) == before + 2

    async def recorded() -> bool:  # the replicas' counts reach the record
        status, found = await _call(stack.gateway, "GET", f"/v1/suppressions/{sid}", key)
        return status == 200 and found["dropped"] == 2

    await eventually(recorded, timeout=10)
    status, listing = await _call(stack.gateway, "GET", "/v1/suppressions", key)
    assert status == 200 and [s["id"] for s in listing["suppressions"]] == [sid]
    assert {"u-sup", anon} <= set(listing["suppressions"][0]["ids"])
    status, _ = await _call(stack.gateway, "GET", "/v1/suppressions", stack.settings.write_key)
    assert status == 401, "the write key (public) neither reads nor lifts suppressions"
    assert (await _call(stack.gateway, "DELETE", f"/v1/suppressions/{sid}", "nope"))[0] == 401

    status, lifted = await _call(other, "DELETE", f"/v1/suppressions/{sid}", key)
    assert status == 200 and lifted == {"lifted": True}
    assert (await _call(other, "DELETE", f"/v1/suppressions/{sid}", key))[0] == 404
    await _learned(stack.gateway, 0)
    await _batch(stack.gateway, key, [{"type": "identify", "userId": "u-sup", "traits": {}}])
    await stack.wait_profile(lambda p: True, user_id="u-sup")
    assert await figure(other, DROPPED) == before + 2


async def test_a_delete_without_suppression_lets_the_ids_come_back_and_bad_flags_are_refused(
    stack: Stack, bus
) -> None:
    key = stack.settings.secret_key
    person = await _known(stack, "u-plain", "anon-plain")
    path = f"/v1/profiles/{person['id']}"
    assert (await _call(stack.gateway, "DELETE", path + "?suppress=maybe", key))[0] == 400
    status, answer = await _call(stack.gateway, "DELETE", path, key)
    assert status == 200 and answer["suppression_id"] is None
    await _batch(stack.gateway, key, [{"type": "track", "userId": "u-plain", "event": "x"}])
    await stack.wait_profile(lambda p: True, user_id="u-plain")


async def _agent(admin: Any, aiohttp_client: Any) -> Any:
    """A signed-in agent (not an admin) of the same dashboard."""
    await admin.server.app[keys.STORE].create_agent(
        "ann@example.com", "Ann", "a long secret", "agent", DEFAULT_WORKSPACE_ID
    )
    ann = await aiohttp_client(admin.server)
    ann.csrf = await sign_in(ann, "ann@example.com", "a long secret")
    return ann


async def test_an_admin_deletes_with_suppression_sees_the_drops_and_lifts_it(
    stack: Stack, bus, start_service, aiohttp_client
) -> None:
    key = stack.settings.secret_key
    person = await _known(stack, "u-dash", "anon-dash")
    admin = await signed_in_client(start_service, aiohttp_client)
    pid = person["id"]
    confirm = await (await admin.get(f"/contacts/{pid}/delete")).text()
    assert 'name="suppress"' in confirm
    done = await admin.post(
        f"/contacts/{pid}/delete",
        data={"csrf": admin.csrf, "suppress": "1"},
        allow_redirects=False,
    )
    assert done.status == 303, await done.text()
    await _learned(stack.gateway, 1)
    await _batch(stack.gateway, key, [{"type": "track", "userId": "u-dash", "event": "x"}] * 1)
    await _batch(stack.gateway, key, [{"type": "track", "anonymousId": "anon-dash", "event": "y"}])
    (record,) = stack.gateway.app[SUPPRESSIONS].of_workspace(DEFAULT_WORKSPACE_ID)
    ann = await _agent(admin, aiohttp_client)
    assert (await ann.get("/suppressions")).status == 403, "admins only"
    refused = await ann.post(
        f"/suppressions/{record.id}/lift", data={"csrf": ann.csrf}, allow_redirects=False
    )
    assert refused.status == 403
    assert 'href="/suppressions"' not in await (await ann.get("/inbox")).text()

    async def shown() -> bool:
        page = await (await admin.get("/suppressions")).text()
        return f'data-suppression="{record.id}"' in page and '<td class="dropped">2</td>' in page

    await eventually(shown, timeout=10)
    lifted = await admin.post(
        f"/suppressions/{record.id}/lift", data={"csrf": admin.csrf}, allow_redirects=False
    )
    assert lifted.status == 303
    assert "No suppressions" in await (await admin.get("/suppressions")).text()
    forged = await admin.post(f"/suppressions/{record.id}/lift", data={}, allow_redirects=False)
    assert forged.status in (403, 404)
    await _learned(stack.gateway, 0)
    await _batch(stack.gateway, key, [{"type": "track", "userId": "u-dash", "event": "z"}])
    await drained(bus)
    await stack.wait_profile(lambda p: True, user_id="u-dash")

    async def audited() -> bool:
        return "Lifted a suppression" in await (await admin.get("/audit")).text()

    await eventually(audited, timeout=10)


async def test_the_widget_socket_drops_a_suppressed_visitors_events_too(stack: Stack, bus) -> None:
    key = stack.settings.secret_key
    visitor = await Visitor.connect(stack.gateway, stack.settings.write_key)
    did, token = visitor.welcome["distinct_id"], visitor.welcome["token"]
    await visitor.close()
    person = await _known(stack, "u-widget", did)
    status, answer = await _call(
        stack.gateway, "DELETE", f"/v1/profiles/{person['id']}?suppress=true", key
    )
    assert status == 200 and answer["suppression_id"], answer
    await _learned(stack.gateway, 1)
    before = await figure(stack.gateway, DROPPED)

    again = await Visitor.connect(stack.gateway, stack.settings.write_key, token=token)
    assert again.welcome["distinct_id"] == did
    await again.send({"type": "track", "message_id": "track-0001", "event": "Clicked"})
    await again.send({"type": "ping"})
    await again.wait_for(lambda f: f["type"] == "pong")
    assert not again.matching(lambda f: f["type"] == "error"), "the socket sees no refusal"
    await again.close()
    await drained(bus)
    assert await figure(stack.gateway, DROPPED) == before + 1
    assert await stack.profiles(distinct_id=did) == []

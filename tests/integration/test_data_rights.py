"""Data rights (issue 13 §4): a person's export is complete against what was sent; after a
delete no service's database names the person, and a surviving person is untouched."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from tests.integration.dashboard_support import signed_in_client
from tests.integration.identity_support import Stack, drained
from tests.integration.mail_support import agent_says
from tests.integration.test_webhooks import start_hooks, with_hooks
from tests.integration.visitor_ws_client import Visitor
from tests.integration.webhooks_support import Receiver, hooks
from tests.support import basic_auth, eventually

STAMP = "2026-06-02T10:00:00.000Z"  # one shared timestamp: paging must not skip ties
TRACKS = 230  # more than one page of the export's events


@pytest.fixture
async def stack(start_service, settings) -> Stack:
    identity = await start_service("identity")
    await start_service("chat")
    gateway = await start_service("gateway")
    return Stack(gateway, settings, [identity])


async def _person(stack: Stack, user_id: str, tracks: int, says: list[str]) -> dict[str, Any]:
    """A visitor who chats over the widget socket, then is identified and tracked over the
    ingest API; what was sent, to compare the export with."""
    visitor = await Visitor.connect(stack.gateway, stack.settings.write_key)
    did = visitor.welcome["distinct_id"]
    for text in says:
        await visitor.say(text)
    await visitor.wait_for(lambda f: len(visitor.messages()) >= len(says))
    await visitor.close()
    sent = [
        {"type": "identify", "userId": user_id, "anonymousId": did, "traits": {"plan": "pro"}},
        {"type": "identify", "userId": user_id, "traits": {"plan": "team"}},
    ]
    sent += [
        {"type": "track", "userId": user_id, "event": f"Step {n}", "properties": {"n": n}}
        for n in range(tracks)
    ]
    for n, message in enumerate(sent):
        stamp = f"2026-06-02T09:0{n}:00.000Z" if n < 2 else STAMP  # the traits in order
        message.update(messageId=uuid.uuid4().hex, timestamp=stamp)
    status, body, _ = await stack.post("/v1/batch", {"batch": sent}, key=stack.settings.write_key)
    assert status == 200, body
    return {"distinct_id": did, "message_ids": {m["messageId"] for m in sent}, "says": says}


async def _export(stack: Stack, profile_id: str) -> tuple[int, Any]:
    auth = basic_auth(stack.settings.secret_key)
    async with aiohttp.ClientSession() as session:
        url = f"{stack.url}/v1/profiles/{profile_id}/export"
        async with session.get(url, headers=auth) as resp:
            return resp.status, json.loads(await resp.text())


async def test_the_export_holds_everything_sent_and_nothing_of_anyone_else(
    stack: Stack, bus
) -> None:
    ann = await _person(stack, "u-ann", TRACKS, ["hello", "my invoice is wrong", "thanks"])
    bob = await _person(stack, "u-bob", 3, ["bob here"])
    await drained(bus)
    profile = await stack.wait_profile(lambda p: p["traits"].get("plan") == "team", user_id="u-ann")

    async def conversation_linked() -> bool:
        status, doc = await _export(stack, profile["id"])
        return status == 200 and len(doc["conversations"]) == 1

    await eventually(conversation_linked, timeout=15)
    status, doc = await _export(stack, profile["id"])
    assert status == 200
    assert doc["profile"]["id"] == profile["id"] and doc["profile"]["user_id"] == "u-ann"
    assert ann["distinct_id"] in {d["distinct_id"] for d in doc["distinct_ids"]}
    assert [v["value"] for v in doc["trait_history"]["plan"]] == ["team", "pro"]
    exported_ids = [e["message_id"] for e in doc["events"]]
    assert len(exported_ids) == len(set(exported_ids)), "no event twice across pages"
    assert ann["message_ids"] <= set(exported_ids), "every event sent is in the export"
    assert not bob["message_ids"] & set(exported_ids)
    (conversation,) = doc["conversations"]
    assert conversation["distinct_id"] == ann["distinct_id"]
    texts = [m["text"] for m in conversation["messages"] if m["author"]["kind"] == "visitor"]
    assert texts == ann["says"]
    assert "bob here" not in json.dumps(doc)


async def test_an_unknown_person_or_a_browser_key_gets_no_export(stack: Stack) -> None:
    status, body = await _export(stack, "no-such-person")
    assert status == 404 and "not_found" in json.dumps(body)
    async with aiohttp.ClientSession() as session:
        url = f"{stack.url}/v1/profiles/anything/export"
        async with session.get(url, headers=basic_auth(stack.settings.write_key)) as resp:
            assert resp.status == 401


# --- delete ---------------------------------------------------------------------------
SERVICES_WITH_DATA = ("identity", "chat", "mail", "dashboard")


async def _holding(settings, needles: set[str]) -> list[str]:
    """Every (database, collection, document) whose stored text names one of `needles`."""
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(settings.mongo_url)
    found = []
    try:
        for service in SERVICES_WITH_DATA:
            db = client[settings.database_name(service)]
            for name in await db.list_collection_names():
                async for doc in db[name].find({}):
                    text = json.dumps(doc, default=str)
                    found += [f"{service}.{name}: {n}" for n in needles if n in text]
    finally:
        client.close()
    return found


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


@pytest.fixture
async def everything(start_service, settings, aiohttp_server) -> Stack:
    identity = await start_service("identity")
    for name in ("chat", "mail", "dashboard"):
        await start_service(name)
    await start_hooks(aiohttp_server, with_hooks(settings))
    gateway = await start_service("gateway")
    return Stack(gateway, settings, [identity])


async def test_a_deleted_person_is_nowhere_and_a_survivor_is_untouched(
    everything: Stack, bus, receiver: Receiver
) -> None:
    stack = everything
    await hooks(bus, "endpoints.create", url=receiver.url, topics=["person.deleted"])
    ann = await _person(stack, "u-gone", 5, ["hi, I am gone@example.com", "bye"])
    bob = await _person(stack, "u-stays", 4, ["bob stays"])
    await drained(bus)
    gone = await stack.wait_profile(lambda p: p["traits"].get("plan") == "team", user_id="u-gone")
    kept = await stack.wait_profile(lambda p: p["traits"].get("plan") == "team", user_id="u-stays")

    async def linked() -> bool:
        _, doc = await _export(stack, gone["id"])
        _, other = await _export(stack, kept["id"])
        return len(doc.get("conversations", [])) == 1 == len(other.get("conversations", []))

    await eventually(linked, timeout=15)
    _, before = await _export(stack, gone["id"])
    conversation_id = before["conversations"][0]["id"]
    await agent_says(bus, conversation_id, "we will email you")
    needles = {gone["id"], ann["distinct_id"], "u-gone", conversation_id, "gone@example.com"}
    assert any(f.startswith("mail.") for f in await _holding(stack.settings, needles)), (
        "mail holds the conversation before the delete, so the check below can fail"
    )
    _, kept_before = await _export(stack, kept["id"])

    status, answer = await _delete(stack, gone["id"])
    assert status == 200, answer
    assert answer["deleted"] is True and ann["distinct_id"] in answer["distinct_ids"]

    async def erased() -> bool:
        return await _holding(stack.settings, needles) == []

    try:
        await eventually(erased, timeout=15)
    except AssertionError as exc:
        raise AssertionError(await _holding(stack.settings, needles)) from exc
    for path in (f"/v1/profiles/{gone['id']}", f"/v1/profiles/{gone['id']}/events"):
        assert (await stack.api(path))[0] == 404
    assert await stack.profiles(distinct_id=ann["distinct_id"]) == []
    assert await stack.profiles(user_id="u-gone") == []
    assert (await _delete(stack, gone["id"]))[0] == 404

    _, kept_after = await _export(stack, kept["id"])
    for doc in (kept_before, kept_after):
        doc.pop("exported_at")
    assert kept_after == kept_before, "the surviving person is untouched"
    assert bob["message_ids"] <= {e["message_id"] for e in kept_after["events"]}

    (hook,) = await receiver.wait_for("person.deleted")
    assert hook.event["data"]["profile_id"] == gone["id"]
    assert ann["distinct_id"] in hook.event["data"]["distinct_ids"]


async def _delete(stack: Stack, profile_id: str) -> tuple[int, Any]:
    auth = basic_auth(stack.settings.secret_key)
    async with aiohttp.ClientSession() as session:
        url = f"{stack.url}/v1/profiles/{profile_id}"
        async with session.delete(url, headers=auth) as resp:
            return resp.status, await resp.json()


async def test_an_admin_exports_then_deletes_a_person_from_the_profile_page(
    stack: Stack, bus, start_service, aiohttp_client
) -> None:
    sent = await _person(stack, "u-page", 3, ["hello from the page"])
    await drained(bus)
    profile = await stack.wait_profile(
        lambda p: p["traits"].get("plan") == "team", user_id="u-page"
    )
    admin = await signed_in_client(start_service, aiohttp_client)
    pid = profile["id"]
    page = await (await admin.get(f"/contacts/{pid}")).text()
    assert f'href="/contacts/{pid}/export"' in page and f'href="/contacts/{pid}/delete"' in page

    exported = await admin.get(f"/contacts/{pid}/export")
    assert exported.status == 200 and "attachment" in exported.headers["Content-Disposition"]
    doc = json.loads(await exported.text())
    assert sent["message_ids"] <= {e["message_id"] for e in doc["events"]}

    async def counted() -> bool:
        confirm = await (await admin.get(f"/contacts/{pid}/delete")).text()
        return "1 conversation," in confirm

    await eventually(counted, timeout=15)
    confirm = await (await admin.get(f"/contacts/{pid}/delete")).text()
    assert "5 events" in confirm and "1 visitor" in confirm
    done = await admin.post(
        f"/contacts/{pid}/delete", data={"csrf": admin.csrf}, allow_redirects=False
    )
    assert done.status == 303, await done.text()
    assert (await stack.api(f"/v1/profiles/{pid}"))[0] == 404
    assert (await admin.get(f"/contacts/{pid}/export")).status == 404

    async def audited() -> bool:
        return "Deleted a person" in await (await admin.get("/audit")).text()

    await eventually(audited, timeout=10)
    assert pid not in await (await admin.get("/audit")).text()


# --- the zip: the document and a readable transcript ----------------------------------
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'


async def _zip(stack: Stack, profile_id: str, form: str = "zip") -> tuple[int, bytes, Any]:
    auth = basic_auth(stack.settings.secret_key)
    async with aiohttp.ClientSession() as session:
        url = f"{stack.url}/v1/profiles/{profile_id}/export?format={form}"
        async with session.get(url, headers=auth) as resp:
            return resp.status, await resp.read(), resp.headers


def _unzipped(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


async def test_the_zip_holds_the_document_and_an_escaped_transcript_of_every_message(
    stack: Stack, bus, start_service, aiohttp_client
) -> None:
    says = ["hello there", HOSTILE, "line one\nline two"]
    sent = await _person(stack, "u-zip", 3, says)
    await drained(bus)
    profile = await stack.wait_profile(lambda p: p["traits"].get("plan") == "team", user_id="u-zip")

    async def linked() -> bool:
        status, doc = await _export(stack, profile["id"])
        return status == 200 and len(doc["conversations"]) == 1

    await eventually(linked, timeout=15)
    status, data, headers = await _zip(stack, profile["id"])
    assert status == 200 and headers["Content-Type"] == "application/zip"
    assert headers["Content-Disposition"].endswith('.zip"')
    files = _unzipped(data)
    assert set(files) == {"person.json", "transcript.html"}
    doc = json.loads(files["person.json"])
    assert doc["profile"]["id"] == profile["id"]
    assert sent["message_ids"] <= {e["message_id"] for e in doc["events"]}
    (conversation,) = doc["conversations"]
    html = files["transcript.html"]
    assert conversation["id"] in html
    assert "<script" not in html and "onerror=alert(1)>" not in html, "nothing typed runs"
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&amp; &#34;quotes&#34;" in html
    assert "hello there" in html and "line one\nline two" in html
    assert "default-src 'none'" in html
    positions = [html.index(t) for t in ("hello there", "&lt;script&gt;", "line one")]
    assert positions == sorted(positions), "the messages in their order"

    assert (await _zip(stack, profile["id"], "pdf"))[0] == 400
    assert (await _zip(stack, "no-such-person"))[0] == 404

    admin = await signed_in_client(start_service, aiohttp_client)
    pid = profile["id"]
    page = await (await admin.get(f"/contacts/{pid}")).text()
    assert f'href="/contacts/{pid}/export?format=zip"' in page
    got = await admin.get(f"/contacts/{pid}/export?format=zip")
    assert got.status == 200 and got.headers["Content-Type"] == "application/zip"
    assert "&lt;script&gt;" in _unzipped(await got.read())["transcript.html"]

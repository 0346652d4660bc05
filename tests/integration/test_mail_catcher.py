"""With no relay set, the mail catcher keeps every email and the dashboard's Mail page shows
it to admins, with a Reply that goes by real SMTP to the inbound listener and back into
the conversation; the sidebar says "email replies off" after an unsubscribe."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from shared.bus import Bus
from tests.conftest import Servers, make_env
from tests.integration.chat_support import ask
from tests.integration.dashboard_support import signed_in_client
from tests.integration.mail_support import agent_says, free_port, visitor_with_email
from tests.support import eventually


@pytest.fixture
def env(servers: Servers, tmp_path: Path) -> dict[str, str]:
    return make_env(
        servers,
        tmp_path / "data",
        PARLEY_UNSEEN_EMAIL_DELAY_S="0",
        PARLEY_INBOUND_SMTP_PORT=str(free_port()),
        PARLEY_REPLY_DOMAIN="reply.parley.test",
    )


async def _caught_id(client: Any) -> str:
    found: list[str] = []

    async def listed() -> bool:
        page = await (await client.get("/mail")).text()
        found[:] = re.findall(r'href="/mail/([0-9]{13}-[0-9a-f]{32})"', page)
        return bool(found)

    await eventually(listed, timeout=15)
    return found[0]


async def test_the_mail_page_shows_the_caught_email_and_its_reply_lands(
    start_service: Any, aiohttp_client: Any, bus: Bus
) -> None:
    client = await signed_in_client(start_service, aiohttp_client, "identity", "chat", "mail")
    _, cid = await visitor_with_email(bus)
    await agent_says(bus, cid, "We open at <9>.")
    caught_id = await _caught_id(client)

    page = await (await client.get(f"/mail/{caught_id}")).text()
    assert "Ann replied to your conversation" in page
    assert "We open at &lt;9&gt;." in page and "<9>" not in page
    assert "reply+" in page and "/c/" in page

    html = await client.get(f"/mail/{caught_id}/html")
    assert "sandbox" in html.headers["Content-Security-Policy"]
    assert "script-src" not in html.headers["Content-Security-Policy"]
    body = await html.text()
    assert '<base target="_blank">' in body and "Continue the conversation" in body

    sent = await client.post(
        f"/mail/{caught_id}/reply",
        data={"text": "Thanks, see you then", "csrf": client.csrf},
        allow_redirects=False,
    )
    assert sent.status == 303

    async def landed() -> bool:
        got = await ask(bus, "conversation.get", conversation_id=cid)
        return any(m.get("via") == "email" for m in got["messages"])

    await eventually(landed)
    got = await ask(bus, "conversation.get", conversation_id=cid)
    reply = next(m for m in got["messages"] if m.get("via") == "email")
    assert reply["text"] == "Thanks, see you then"  # the quoted email is gone
    shown = await (await client.get(f"/conversations/{cid}")).text()
    assert 'title="Sent by email"' in shown


async def test_the_sidebar_says_email_replies_off_after_an_unsubscribe(
    start_service: Any, aiohttp_client: Any, bus: Bus
) -> None:
    client = await signed_in_client(start_service, aiohttp_client, "identity", "chat", "mail")
    _, cid = await visitor_with_email(bus)
    await agent_says(bus, cid, "We open at 9.")
    caught_id = await _caught_id(client)
    text = (await ask_mail(bus, "caught.get", id=caught_id))["text"]
    token = re.search(r"/u/(\S+)", text)
    assert token is not None
    sidebar = await (await client.get(f"/conversations/{cid}/sidebar")).text()
    assert "email replies off" not in sidebar
    await ask_mail(bus, "unsubscribe", token=token.group(1))
    sidebar = await (await client.get(f"/conversations/{cid}/sidebar")).text()
    assert "email replies off" in sidebar


async def ask_mail(bus: Bus, verb: str, **payload: Any) -> Any:
    return await bus.request(bus.subjects.request("mail", verb), payload)


async def test_the_mail_page_is_not_for_someone_signed_out(
    start_service: Any, aiohttp_client: Any, bus: Bus
) -> None:
    client = await signed_in_client(start_service, aiohttp_client, "mail")
    assert (await client.get("/mail")).status == 200
    await client.post("/logout", data={"csrf": client.csrf})
    anonymous = await client.get("/mail", allow_redirects=False)
    assert anonymous.status in (302, 303, 401, 403)

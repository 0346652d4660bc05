"""The agents' email about a visitor message nobody read, against a real SMTP server:
after PARLEY_AGENT_NOTIFY_DELAY_S, to the assignee or every agent, not when read in
time, not to an agent who turned it off in their own settings (/me)."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.bus import Bus
from tests.conftest import Servers, make_env
from tests.integration.chat_support import ask, conversation_of, visitor_says
from tests.integration.dashboard_support import ADMIN_EMAIL, csrf_of, sign_in, signed_in_client
from tests.integration.mail_support import SmtpSink, agent_says, relay_env, text_of

NOTIFY_DELAY_S = 1


@pytest.fixture
async def sink() -> Any:
    server = await SmtpSink().start()
    yield server
    await server.stop()


@pytest.fixture
def env(servers: Servers, tmp_path: Path, sink: SmtpSink) -> dict[str, str]:
    extra = relay_env(
        sink,
        PARLEY_AGENT_NOTIFY_DELAY_S=str(NOTIFY_DELAY_S),
        PARLEY_UNSEEN_EMAIL_DELAY_S="3600",  # the visitor's email is not what these test
    )
    return make_env(servers, tmp_path / "data", **extra)


@pytest.fixture
async def dashboard(start_service: Any, aiohttp_client: Any) -> Any:
    return await signed_in_client(start_service, aiohttp_client, "identity", "chat", "mail")


async def _visitor_writes(bus: Bus, text: str) -> tuple[str, dict[str, Any]]:
    visitor = "v-" + uuid.uuid4().hex[:12]
    await visitor_says(bus, visitor, text)
    history = await conversation_of(bus, visitor)
    return history["conversation_id"], history["messages"][-1]


async def test_an_unread_visitor_message_is_emailed_to_the_agents(
    dashboard: Any, bus: Bus, sink: SmtpSink, settings: Any
) -> None:
    cid, _ = await _visitor_writes(bus, "Is the <blue> one in stock?")
    [email] = await sink.wait_for(1)
    assert str(email["To"]) == ADMIN_EMAIL
    assert email["Subject"] == "Unanswered: Is the <blue> one in stock?"
    text = text_of(email)
    assert "> Is the <blue> one in stock?" in text
    assert f"{settings.dashboard_url}/conversations/{cid}" in text
    html = email.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "&lt;blue&gt;" in html and "<blue>" not in html
    await asyncio.sleep(NOTIFY_DELAY_S + 1.5)
    assert len(sink.emails) == 1  # once


async def test_a_message_read_or_answered_in_time_sends_nothing(
    dashboard: Any, bus: Bus, sink: SmtpSink
) -> None:
    cid, message = await _visitor_writes(bus, "Hello?")
    await ask(bus, "conversation.read", conversation_id=cid, agent_id="a1", seq=message["seq"])
    cid2, _ = await _visitor_writes(bus, "Anyone there?")
    await agent_says(bus, cid2, "Yes, here!")
    await asyncio.sleep(NOTIFY_DELAY_S + 2.5)
    assert sink.emails == []


async def test_an_agent_who_turned_it_off_gets_none(
    dashboard: Any, bus: Bus, sink: SmtpSink
) -> None:
    page = await dashboard.get("/me")
    assert 'id="notify-email" checked' in await page.text()
    saved = await dashboard.post(
        "/me/notifications", data={"csrf": dashboard.csrf}, allow_redirects=False
    )
    assert saved.status == 303
    assert 'id="notify-email" checked' not in await (await dashboard.get("/me")).text()
    await _visitor_writes(bus, "Hello?")
    await asyncio.sleep(NOTIFY_DELAY_S + 2.5)
    assert sink.emails == []


# --- the team's own mail ---------------------------------------------------------------
def _link(email: Any, path: str) -> str:
    found = re.search(rf"https?://\S+{path}\S+", text_of(email))
    assert found is not None, text_of(email)
    return found.group(0)


async def test_an_invitation_is_emailed(dashboard: Any, sink: SmtpSink) -> None:
    page = await dashboard.post(
        "/team/invite", data={"email": "new@acme.test", "role": "agent", "csrf": dashboard.csrf}
    )
    assert 'id="invite-emailed"' in await page.text()
    [email] = await sink.wait_for(1)
    assert str(email["To"]) == "new@acme.test"
    link = _link(email, "/invite/")
    assert link in await page.text()  # the same link the admin sees once


async def test_a_password_reset_by_email_works_once_and_ends_other_sessions(
    dashboard: Any, sink: SmtpSink, aiohttp_client: Any
) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as anonymous:
        base = str(dashboard.make_url("/")).rstrip("/")
        form = await (await anonymous.get(base + "/password/forgot")).text()
        csrf = csrf_of(form)
        for address in ("nobody@acme.test", ADMIN_EMAIL):  # the same answer for both
            sent = await anonymous.post(
                base + "/password/forgot", data={"email": address, "csrf": csrf}
            )
            assert 'id="reset-sent"' in await sent.text()
        [email] = await sink.wait_for(1)
        assert str(email["To"]) == ADMIN_EMAIL
        path = _link(email, "/password/reset/").split(base, 1)[-1]
        path = path[path.index("/password/reset/") :]
        new_password = "a brand new long password"
        done = await anonymous.post(
            base + path, data={"password": new_password, "csrf": csrf}, allow_redirects=False
        )
        assert done.status == 303
        again = await anonymous.post(
            base + path, data={"password": "another one, long", "csrf": csrf}
        )
        assert again.status == 404  # single use
    signed_out = await dashboard.get("/inbox", allow_redirects=False)
    assert signed_out.status in (302, 303)  # the old session ended
    fresh = await aiohttp_client(dashboard.server)
    await sign_in(fresh, ADMIN_EMAIL, new_password)
    await asyncio.sleep(0.5)
    assert len(sink.emails) == 1

"""The visitor's email about answers they missed, against a real SMTP server (aiosmtpd)
and the real chat, identity, mail and gateway services on nats-server and SecantusDB."""

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
from tests.integration.mail_support import SmtpSink, free_port, html_of, text_of
from tests.support import eventually

DELAY_S = 2
REPLY_DOMAIN = "reply.parley.test"
ANN = {"id": "agent-ann", "name": "Ann", "avatar": None}


@pytest.fixture
async def sink() -> Any:
    server = await SmtpSink().start()
    yield server
    await server.stop()


@pytest.fixture
def env(servers: Servers, tmp_path: Path, sink: SmtpSink) -> dict[str, str]:
    return make_env(
        servers,
        tmp_path / "data",
        PARLEY_SMTP_URL=f"smtp://127.0.0.1:{sink.port}",
        PARLEY_MAIL_FROM="Acme support <support@acme.test>",
        PARLEY_UNSEEN_EMAIL_DELAY_S=str(DELAY_S),
        PARLEY_INBOUND_SMTP_PORT=str(free_port()),
        PARLEY_REPLY_DOMAIN=REPLY_DOMAIN,
    )


class Stack:
    def __init__(self, start_service: Any) -> None:
        self.start_service = start_service
        self.running: dict[str, Any] = {}

    async def start(self, *names: str) -> None:
        for name in names:
            self.running[name] = await self.start_service(name)

    async def stop(self, *names: str) -> None:
        for name in names:
            await self.running.pop(name).close()

    def url(self, name: str) -> str:
        return str(self.running[name].make_url("/")).rstrip("/")


@pytest.fixture
async def stack(start_service: Any) -> Stack:
    s = Stack(start_service)
    await s.start("identity", "chat", "mail")
    return s


async def visitor_with_email(bus: Bus, email: str = "sally@example.com") -> tuple[str, str]:
    visitor = "v-" + uuid.uuid4().hex[:12]
    await visitor_says(bus, visitor, f"Hi, I'm {email}, when do you open?")
    conversation = await conversation_of(bus, visitor)
    return visitor, conversation["conversation_id"]


async def agent_says(bus: Bus, conversation_id: str, text: str) -> dict[str, Any]:
    result: dict[str, Any] = await ask(
        bus,
        "agent.send",
        conversation_id=conversation_id,
        agent=ANN,
        client_msg_id="c-" + uuid.uuid4().hex,
        text=text,
    )
    return result


async def visitor_sees(bus: Bus, visitor: str, seq: int) -> None:
    await bus.publish(
        bus.subjects.request("chat", "visitor.signal"),
        {"type": "read", "workspace_id": "default", "visitor_id": visitor, "seq": seq},
    )


async def quiet(sink: SmtpSink, count: int, seconds: float) -> None:
    """Nothing more than `count` emails arrives for `seconds`."""
    await asyncio.sleep(seconds)
    assert len(sink.emails) == count, [e["Subject"] for e in sink.emails]


async def test_three_quick_replies_make_one_email_after_the_delay(
    stack: Stack, bus: Bus, sink: SmtpSink
) -> None:
    _, cid = await visitor_with_email(bus)
    for text in ("We open at 9.", "On Saturdays at 10.", "Anything <else>?"):
        await agent_says(bus, cid, text)
    sent_at = asyncio.get_running_loop().time()
    await quiet(sink, 0, DELAY_S - 1)  # not before the delay
    [email] = await sink.wait_for(1)
    assert sink.accepted_at[0] - sent_at >= DELAY_S - 0.5
    assert str(email["To"]) == "sally@example.com"
    assert email["Subject"] == "Ann replied to your conversation"
    text = text_of(email)
    for said in ("We open at 9.", "On Saturdays at 10.", "Anything <else>?"):
        assert said in text
    assert "Ann wrote:" in text
    html = html_of(email)
    assert "Anything &lt;else&gt;?" in html and "<else>" not in html
    link = re.search(r"(http://[^\s\"]+/c/[^\s\"<]+)", text)
    assert link is not None and link.group(1) in html
    await quiet(sink, 1, DELAY_S + 1)  # one email, not one per message


async def test_a_message_read_in_time_sends_no_email(
    stack: Stack, bus: Bus, sink: SmtpSink
) -> None:
    visitor, cid = await visitor_with_email(bus)
    reply = await agent_says(bus, cid, "We open at 9.")
    await visitor_sees(bus, visitor, reply["seq"])
    await quiet(sink, 0, DELAY_S + 2)
    # seen: a later unseen message is emailed alone, the seen one never
    await agent_says(bus, cid, "And we close at 6.")
    [email] = await sink.wait_for(1)
    assert "And we close at 6." in text_of(email)
    assert "We open at 9." not in text_of(email)


async def test_no_email_without_an_address(stack: Stack, bus: Bus, sink: SmtpSink) -> None:
    visitor = "v-" + uuid.uuid4().hex[:12]
    await visitor_says(bus, visitor, "hello")
    cid = (await conversation_of(bus, visitor))["conversation_id"]
    await agent_says(bus, cid, "Hi!")
    await quiet(sink, 0, DELAY_S + 2)


async def test_threading_headers_tie_a_conversations_emails(
    stack: Stack, bus: Bus, sink: SmtpSink
) -> None:
    _, cid = await visitor_with_email(bus)
    await agent_says(bus, cid, "First answer.")
    [first] = await sink.wait_for(1)
    await agent_says(bus, cid, "Second answer.")
    second = (await sink.wait_for(2))[1]
    assert "First answer." not in text_of(second)  # mailed already: not again
    assert first["Message-ID"] != second["Message-ID"]
    assert second["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in str(second["References"])
    reply_to = str(first["Reply-To"])
    assert reply_to == str(second["Reply-To"])
    local, _, domain = reply_to.partition("@")
    assert domain == REPLY_DOMAIN and local.startswith("reply+")
    assert len(local) <= 64 and local == local.lower()
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<http://[^>]+/u/[^>]+>", str(first["List-Unsubscribe"]))


async def test_no_second_email_after_every_service_restarts(
    stack: Stack, bus: Bus, sink: SmtpSink
) -> None:
    _, cid = await visitor_with_email(bus)
    await agent_says(bus, cid, "We open at 9.")
    await stack.stop("mail", "chat", "identity")  # down before the email is due
    await asyncio.sleep(DELAY_S + 0.5)
    await stack.start("identity", "chat", "mail")
    [email] = await sink.wait_for(1)
    assert "We open at 9." in text_of(email)
    await stack.stop("mail", "chat", "identity")  # and again after it went out
    await stack.start("identity", "chat", "mail")
    await quiet(sink, 1, DELAY_S + 2)


async def test_unsubscribe_one_click_stops_the_emails(
    stack: Stack, bus: Bus, sink: SmtpSink
) -> None:
    await stack.start("gateway")
    _, cid = await visitor_with_email(bus)
    await agent_says(bus, cid, "We open at 9.")
    [email] = await sink.wait_for(1)
    url = str(email["List-Unsubscribe"]).strip("<>")
    path = url[url.index("/u/") :]
    async with aiohttp.ClientSession() as http:
        page = await http.get(stack.url("gateway") + path)  # a link scanner: changes nothing
        assert page.status == 200
        status = await ask_mail(bus, "status", email="sally@example.com")
        assert status["email_replies"] == "on"
        forged = await http.post(stack.url("gateway") + path[:-3] + "abc")
        assert forged.status == 400
        done = await http.post(stack.url("gateway") + path, data={"List-Unsubscribe": "One-Click"})
        assert done.status == 200
    status = await ask_mail(bus, "status", email="sally@example.com")
    assert status["email_replies"] == "off"
    await agent_says(bus, cid, "Are you still there?")
    await quiet(sink, 1, DELAY_S + 2)


async def ask_mail(bus: Bus, verb: str, **payload: Any) -> Any:
    return await bus.request(
        bus.subjects.request("mail", verb), {"workspace_id": "default", **payload}
    )


async def test_a_permanent_refusal_is_noted_on_the_conversation(
    stack: Stack, bus: Bus, sink: SmtpSink
) -> None:
    sink.refuse_rcpt = "550 5.1.1 No such user here"
    visitor, cid = await visitor_with_email(bus, "gone@example.com")
    await agent_says(bus, cid, "We open at 9.")

    async def noted() -> bool:
        got = await ask(bus, "conversation.get", conversation_id=cid)
        return any(m["internal"] and "refused" in m["text"] for m in got["messages"])

    await eventually(noted, timeout=DELAY_S + 10)
    got = await ask(bus, "conversation.get", conversation_id=cid)
    note = next(m for m in got["messages"] if m["internal"] and "refused" in m["text"])
    assert "gone@example.com" in note["text"] and "550" in note["text"]
    history = await ask(bus, "history", visitor_id=visitor)
    assert all("refused" not in m["text"] for m in history["messages"])  # agents only
    assert sink.emails == []


async def test_a_temporary_refusal_is_retried_and_sent_once(
    stack: Stack, bus: Bus, sink: SmtpSink
) -> None:
    sink.defer = 2
    _, cid = await visitor_with_email(bus)
    await agent_says(bus, cid, "We open at 9.")
    [email] = await sink.wait_for(1, timeout=DELAY_S + 15)
    assert "We open at 9." in text_of(email)
    await quiet(sink, 1, 2)

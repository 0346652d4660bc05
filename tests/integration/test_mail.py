"""The visitor's email about answers they missed, against a real SMTP server (aiosmtpd)
and the real chat, identity, mail and gateway services on nats-server and SecantusDB."""

from __future__ import annotations

import asyncio
import re
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import pytest

from services.mail import outbound
from shared.bus import Bus
from shared.settings import Settings
from tests.conftest import Servers, make_env
from tests.integration.chat_support import Frames, ask, conversation_of, visitor_says
from tests.integration.mail_support import (
    DELAY_S,
    REPLY_DOMAIN,
    SmtpSink,
    Stack,
    agent_says,
    html_of,
    relay_env,
    reply_email,
    text_of,
    visitor_sees,
    visitor_with_email,
)
from tests.integration.visitor_ws_client import Visitor
from tests.support import eventually


@pytest.fixture
async def sink() -> Any:
    server = await SmtpSink().start()
    yield server
    await server.stop()


@pytest.fixture
def env(servers: Servers, tmp_path: Path, sink: SmtpSink) -> dict[str, str]:
    extra = relay_env(
        sink,
        PARLEY_MAIL_FROM="Acme support <support@acme.test>",
        PARLEY_UNSEEN_EMAIL_DELAY_S=str(DELAY_S),
        PARLEY_REPLY_DOMAIN=REPLY_DOMAIN,
    )
    return make_env(servers, tmp_path / "data", **extra)


@pytest.fixture
async def stack(start_service: Any) -> Stack:
    s = Stack(start_service)
    await s.start("identity", "chat", "mail")
    return s


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


# --- inbound: the visitor's reply by email -------------------------------------------
async def _send_to_listener(settings: Settings, msg: EmailMessage) -> None:
    await aiosmtplib.send(msg, hostname="127.0.0.1", port=settings.mail.inbound_port, timeout=10)


async def _mailed(bus: Bus, sink: SmtpSink, resolve: bool = False) -> tuple[str, str, str]:
    """A conversation whose visitor got our email: (visitor, conversation, reply address)."""
    visitor, cid = await visitor_with_email(bus)
    await agent_says(bus, cid, "We open at 9.")
    [email] = await sink.wait_for(1)
    if resolve:
        await ask(bus, "conversation.update", conversation_id=cid, status="resolved")
    return visitor, cid, str(email["Reply-To"])


async def _messages(bus: Bus, cid: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def arrived() -> bool:
        got = (await ask(bus, "conversation.get", conversation_id=cid))["messages"]
        found[:] = [m for m in got if m.get("kind") != "activity"]  # the thread's own lines
        return len(found) >= count

    await eventually(arrived)
    return found


async def test_an_email_reply_lands_in_the_conversation_without_the_quote(
    stack: Stack, bus: Bus, sink: SmtpSink, settings: Settings
) -> None:
    visitor, cid, reply_to = await _mailed(bus, sink, resolve=True)
    await _send_to_listener(settings, reply_email(reply_to, "Great, see you Saturday!"))
    messages = await _messages(bus, cid, 3)
    reply = messages[-1]
    assert reply["text"] == "Great, see you Saturday!"
    assert reply["via"] == "email" and reply["author"]["kind"] == "visitor"
    assert not reply["internal"]

    async def reopened() -> bool:  # the fold follows the stored message by a moment
        got = await ask(bus, "conversation.get", conversation_id=cid)
        return bool(got["conversation"]["status"] == "open")

    await eventually(reopened)  # a resolved conversation reopens
    history = await ask(bus, "history", visitor_id=visitor)  # the widget shows it too
    assert history["messages"][-1]["via"] == "email"


async def test_the_listener_refuses_other_recipients_and_forged_addresses(
    stack: Stack, bus: Bus, sink: SmtpSink, settings: Settings
) -> None:
    _, cid, reply_to = await _mailed(bus, sink)
    local, _, domain = reply_to.partition("@")
    forged_signature = local[:-4] + ("aaaa" if not local.endswith("aaaa") else "bbbb")
    other_thread = "reply+" + "a" * 16 + local[22:]
    for to in (
        "postmaster@example.com",  # a relay attempt
        f"sales@{domain}",
        f"{forged_signature}@{domain}",
        f"{other_thread}@{domain}",
        f"{local}@elsewhere.example",
    ):
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await _send_to_listener(settings, reply_email(to, "hello"))
        assert refused.value.recipients[0].code == 550, to
    await asyncio.sleep(0.5)
    assert len(await _messages(bus, cid, 2)) == 2  # nothing added


async def test_a_reply_from_another_address_is_an_internal_note(
    stack: Stack, bus: Bus, sink: SmtpSink, settings: Settings
) -> None:
    visitor, cid, reply_to = await _mailed(bus, sink)
    await _send_to_listener(
        settings, reply_email(reply_to, "It's Bob, her colleague", sender="bob@example.org")
    )
    note = (await _messages(bus, cid, 3))[-1]
    assert note["internal"] and note["author"]["name"] == "Email from another address"
    assert "bob@example.org" in note["text"] and "It's Bob, her colleague" in note["text"]
    history = await ask(bus, "history", visitor_id=visitor)
    assert all("Bob" not in m["text"] for m in history["messages"])


async def test_an_attachment_is_bounced_with_a_note(
    stack: Stack, bus: Bus, sink: SmtpSink, settings: Settings
) -> None:
    _, cid, reply_to = await _mailed(bus, sink)
    msg = reply_email(reply_to, "See the photo")
    msg.add_attachment(b"\x89PNG....", maintype="image", subtype="png", filename="p.png")
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await _send_to_listener(settings, msg)
    assert refused.value.code == 550 and "Attachments" in refused.value.message
    await asyncio.sleep(0.5)
    assert len(await _messages(bus, cid, 2)) == 2


async def test_an_email_reply_never_verifies_the_address(
    stack: Stack, bus: Bus, sink: SmtpSink, settings: Settings
) -> None:
    """Identity hears nothing of a reply: no email event, trusted or not."""
    _, cid, reply_to = await _mailed(bus, sink)
    events = await Frames.on(bus, bus.subjects.events("default", ">"))
    await _send_to_listener(settings, reply_email(reply_to, "Thanks!"))
    await _messages(bus, cid, 3)
    await asyncio.sleep(0.5)
    assert events.items == []


async def test_no_email_while_a_widget_of_the_visitor_is_connected(
    stack: Stack, bus: Bus, sink: SmtpSink, settings: Settings
) -> None:
    """Panel closed (nothing seen) but the page open: no email until the socket closes."""
    await stack.start("gateway")
    widget = await Visitor.connect(stack.running["gateway"], settings.write_key)
    visitor = widget.welcome["visitor_id"]
    await widget.say("Hi, I'm sally@example.com")
    cid = (await conversation_of(bus, visitor))["conversation_id"]
    await agent_says(bus, cid, "We open at 9.")
    await quiet(sink, 0, DELAY_S + 2)
    await widget.close()
    [email] = await sink.wait_for(1, timeout=outbound.CONNECTED_RECHECK_S + 10)
    assert "We open at 9." in text_of(email)

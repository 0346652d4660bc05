"""A real SMTP server for the mail tests (aiosmtpd), and the stack around the mail service."""

from __future__ import annotations

import asyncio
import socket
import uuid
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from shared.bus import Bus
from tests.integration.chat_support import ask, conversation_of, visitor_says
from tests.support import eventually


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpSink:
    """Keeps every email it accepts; `refuse_rcpt` / `defer` make it answer 5xx / 4xx."""

    port: int = 0
    emails: list[EmailMessage] = field(default_factory=list)
    accepted_at: list[float] = field(default_factory=list)
    refuse_rcpt: str | None = None  # e.g. "550 5.1.1 No such user"
    defer: int = 0  # answer the next N DATA commands with 451
    server: asyncio.Server | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.defer > 0:
            self.defer -= 1
            return "451 4.3.0 Try again later"
        raw = envelope.original_content or b""
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(parsed, EmailMessage)
        self.emails.append(parsed)
        self.accepted_at.append(asyncio.get_running_loop().time())
        return "250 OK"

    async def start(self) -> SmtpSink:
        self.port = free_port()
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: SMTP(self), "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def wait_for(self, count: int, timeout: float = 15) -> list[EmailMessage]:
        async def arrived() -> bool:
            return len(self.emails) >= count

        await eventually(arrived, timeout=timeout)
        return self.emails


def relay_env(sink: SmtpSink, **extra: str) -> dict[str, str]:
    """The settings of a deployment whose relay is the test's SMTP server."""
    return {
        "PARLEY_SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
        "PARLEY_INBOUND_SMTP_PORT": str(free_port()),
        **extra,
    }


def text_of(email: EmailMessage) -> str:
    part = email.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(email: EmailMessage) -> str:
    part = email.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


DELAY_S = 2
REPLY_DOMAIN = "reply.parley.test"
ANN = {"id": "agent-ann", "name": "Ann", "avatar": None}


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


def reply_email(to: str, text: str, sender: str = "Sally <sally@example.com>") -> EmailMessage:
    """A Gmail-like multipart reply quoting our email."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Re: Ann replied to your conversation"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@mail.gmail.com>"
    quoted = "> Ann wrote:\n> We open at 9.\n"
    msg.set_content(
        f"{text}\n\nOn Wed, Dec 2, 2026 at 10:00 AM Acme support <support@acme.test> wrote:\n"
        + quoted
    )
    msg.add_alternative(
        f'<div dir="ltr">{text}</div><div class="gmail_quote"><blockquote>Ann wrote: '
        "We open at 9.</blockquote></div>",
        subtype="html",
    )
    return msg

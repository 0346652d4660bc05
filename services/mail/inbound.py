"""The inbound SMTP listener: replies to `reply+<id>-<signature>@<PARLEY_REPLY_DOMAIN>`.

Everything else is refused at RCPT (no open relay). A reply becomes a visitor message
of the same conversation through chat's inbound stream (`mail.reply`, `via: "email"`);
one from another address than the one mailed becomes an internal note flagged so. An
attachment refuses the whole email with a note the sender's server bounces back. The
sender's address is never marked verified by a reply (nothing goes to identity).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from services.mail.addresses import thread_of_address
from services.mail.context import MailContext
from services.mail.replies import Reply, ReplyRefused, read_reply
from shared.metrics import MAIL_INBOUND

log = logging.getLogger("parley.mail.inbound")

MAX_EMAIL_BYTES = 2 * 1024 * 1024
MAX_RECIPIENTS = 5
TRY_LATER = "451 4.3.0 Temporary failure, try again later"


class ReplyHandler:
    def __init__(self, ctx: MailContext) -> None:
        self.ctx = ctx

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        try:
            return await self._recipient(envelope, address)
        except Exception:  # the database or NATS away: the sender's server tries again
            log.exception("inbound RCPT failed")
            return TRY_LATER

    async def _recipient(self, envelope: Envelope, address: str) -> str:
        keyring = self.ctx.settings.token_secrets
        thread_id = thread_of_address(keyring, address, self.ctx.mail.reply_domain)
        if thread_id is None or await self.ctx.store.thread(thread_id) is None:
            MAIL_INBOUND.labels("refused_recipient").inc()
            return "550 5.1.1 No such recipient here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        try:
            return await self._data(envelope)
        except Exception:
            log.exception("inbound DATA failed")
            return TRY_LATER

    async def _data(self, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        parsed = BytesParser(policy=policy.default).parsebytes(
            raw if isinstance(raw, bytes) else raw.encode()
        )
        assert isinstance(parsed, EmailMessage)
        threads = [await self._thread(a) for a in envelope.rcpt_tos]
        thread = next((t for t in threads if t is not None), None)
        if thread is None:
            return "554 5.1.1 No valid recipients"
        try:
            reply = read_reply(parsed)
        except ReplyRefused as exc:
            MAIL_INBOUND.labels("refused_message").inc()
            return f"550 5.7.1 {exc}"
        await self._deliver(thread, reply, raw)
        MAIL_INBOUND.labels("accepted").inc()
        return "250 Message accepted"

    async def _thread(self, address: str) -> dict[str, Any] | None:
        thread_id = thread_of_address(
            self.ctx.settings.token_secrets, address, self.ctx.mail.reply_domain
        )
        return await self.ctx.store.thread(thread_id) if thread_id else None

    async def _deliver(self, thread: dict[str, Any], reply: Reply, raw: bytes | str) -> None:
        ws = thread["workspace_id"]
        seed = (
            reply.message_id
            or hashlib.sha256(raw if isinstance(raw, bytes) else raw.encode()).hexdigest()
        )
        client_msg_id = "mail-" + hashlib.sha256(seed.encode()).hexdigest()[:40]
        mailed = thread.get("emailed")
        record = {
            "type": "mail.reply",
            "workspace_id": ws,
            "visitor_id": thread["visitor_id"],
            "distinct_id": thread["distinct_id"],
            "client_msg_id": client_msg_id,
            "text": reply.text,
            "from_other_address": reply.sender is None or reply.sender != mailed,
            "sender": reply.sender,
        }
        bus = self.ctx.bus
        await bus.publish_durable(
            bus.subjects.chat_inbound(ws),
            record,
            f"{ws}:{thread['visitor_id']}:{client_msg_id}",
        )


async def start_listener(ctx: MailContext) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    handler = ReplyHandler(ctx)

    def protocol() -> SMTP:
        return SMTP(
            handler,
            data_size_limit=MAX_EMAIL_BYTES,
            enable_SMTPUTF8=True,
            hostname=ctx.mail.reply_domain,
            ident="Parley inbound",
        )

    return await loop.create_server(
        protocol, host=ctx.mail.inbound_host, port=ctx.mail.inbound_port
    )

"""Request/reply on `P.mail.<verb>` (docs/bus-contract.md, mail): the catcher for the
dashboard's Mail page (admins only: the dashboard checks), the gateway's unsubscribe,
the sidebar's "email replies off"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import aiosmtplib

from services.mail.addresses import read_unsubscribe_token
from services.mail.catcher import Caught
from services.mail.context import MailContext
from services.mail.team_mail import send_team_mail
from shared import clock
from shared.errors import PermanentError
from shared.identifiers import normalize_email
from shared.schema.chat_requests import MAX_TEXT

Handler = Callable[[MailContext, dict[str, Any]], Awaitable[Any]]


def _invalid(message: str) -> PermanentError:
    return PermanentError(message, code="invalid")


def _caught(ctx: MailContext, payload: dict[str, Any]) -> Caught:
    caught_id = payload.get("id")
    found = ctx.catcher.get(caught_id) if isinstance(caught_id, str) else None
    if found is None:
        raise PermanentError("no such email", code="not_found")
    return found


async def caught_list(ctx: MailContext, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "catching": not ctx.mail.smtp_url,
        "emails": [c.summary() for c in ctx.catcher.latest()],
    }


async def caught_get(ctx: MailContext, payload: dict[str, Any]) -> dict[str, Any]:
    caught = _caught(ctx, payload)
    return {**caught.summary(), "text": caught.body("plain"), "html": caught.body("html")}


def reply_to(caught: Caught, text: str) -> EmailMessage:
    """The reply a visitor's mail client would send: quoting the email, threaded under it."""
    original = caught.message
    msg = EmailMessage()
    msg["From"] = str(original["To"])
    msg["To"] = str(original.get("Reply-To") or original["From"])
    msg["Subject"] = "Re: " + str(original.get("Subject", ""))
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = make_msgid(domain="catcher.parley.local")
    if original.get("Message-ID"):
        msg["In-Reply-To"] = str(original["Message-ID"])
        msg["References"] = " ".join(
            v for v in (str(original.get("References", "")), str(original["Message-ID"])) if v
        )
    quoted = "\n".join("> " + line for line in caught.body("plain").splitlines())
    when = str(original.get("Date", ""))
    msg.set_content(f"{text}\n\nOn {when}, {original['From']} wrote:\n{quoted}\n")
    return msg


async def caught_reply(ctx: MailContext, payload: dict[str, Any]) -> dict[str, Any]:
    """The catcher's "Reply" button: a real SMTP delivery to the inbound listener."""
    caught = _caught(ctx, payload)
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise _invalid(f"text must be 1-{MAX_TEXT} characters")
    message = reply_to(caught, text.strip())
    host = ctx.mail.inbound_host if ctx.mail.inbound_host not in ("0.0.0.0", "::") else "127.0.0.1"
    try:
        await aiosmtplib.send(message, hostname=host, port=ctx.mail.inbound_port, timeout=10)
    except aiosmtplib.SMTPException as exc:
        raise PermanentError(f"the inbound listener refused it: {exc}", code="refused") from exc
    return {"sent": True, "to": str(message["To"])}


async def unsubscribe(ctx: MailContext, payload: dict[str, Any]) -> dict[str, Any]:
    grant = read_unsubscribe_token(ctx.settings.token_secrets, payload.get("token"))
    if grant is None:
        raise PermanentError("this unsubscribe link is not valid", code="invalid_token")
    await ctx.store.suppress(grant.workspace_id, grant.email)
    return {"workspace_id": grant.workspace_id, "email": grant.email}


async def status(ctx: MailContext, payload: dict[str, Any]) -> dict[str, Any]:
    ws = payload.get("workspace_id")
    email = normalize_email(payload.get("email"))
    if not isinstance(ws, str) or not ws:
        raise _invalid("workspace_id is required")
    if email is None:
        return {"email": None, "email_replies": "none"}
    off = await ctx.store.is_suppressed(ws, email)
    return {"email": email, "email_replies": "off" if off else "on"}


HANDLERS: dict[str, Handler] = {
    "caught.list": caught_list,
    "caught.get": caught_get,
    "caught.reply": caught_reply,
    "unsubscribe": unsubscribe,
    "status": status,
    "team.send": send_team_mail,
}


async def serve_all(ctx: MailContext) -> None:
    await ctx.bus.serve_verbs("mail", HANDLERS, ctx)


__all__ = ["HANDLERS", "reply_to", "serve_all"]

"""The team's own mail (`P.mail.team.send`): invitations and password-reset links the
dashboard asks for, and the admins' notice of a disabled webhook (services/webhooks). Recorded in the outbox under the dashboard's key before the send,
so a retried request sends nothing twice."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from services.mail.compose import TEMPLATES, message_id_for
from services.mail.context import MailContext
from services.mail.transport import PermanentFailure, TemporaryFailure
from shared import clock
from shared.errors import PermanentError
from shared.identifiers import normalize_email

SUBJECTS = {
    "invitation": "You're invited to {workspace} on Parley",
    "password_reset": "Reset your Parley password",
    "webhook_disabled": "A webhook of {workspace} on Parley was turned off",
}
MAX_LINK = 2000


def _checked(payload: dict[str, Any]) -> tuple[str, str, str, str]:
    kind, key, link = payload.get("kind"), payload.get("key"), payload.get("link")
    to = normalize_email(payload.get("to"))
    if kind not in SUBJECTS or to is None:
        raise PermanentError(
            "kind must be invitation, password_reset or webhook_disabled, to an address",
            code="invalid",
        )
    if not isinstance(key, str) or not 8 <= len(key) <= 128:
        raise PermanentError("key must be 8-128 characters", code="invalid")
    if (
        not isinstance(link, str)
        or not link.startswith(("http://", "https://"))
        or len(link) > MAX_LINK
    ):
        raise PermanentError("link must be an http(s) URL", code="invalid")
    return str(kind), key, link, to


def compose_team(ctx: MailContext, payload: dict[str, Any]) -> tuple[str, EmailMessage]:
    kind, key, link, to = _checked(payload)
    workspace = ctx.workspace_name(str(payload.get("workspace_id") or ""))
    values = {
        "workspace": workspace,
        "link": link,
        "inviter": str(payload.get("inviter") or "An admin")[:200],
        "ttl_minutes": int(payload.get("ttl_minutes") or 60),
        "url": str(payload.get("url") or "")[:MAX_LINK],  # webhook_disabled: the endpoint
        "reason": str(payload.get("reason") or "")[:200],
    }
    subject = SUBJECTS[kind].format(workspace=workspace)
    values["subject"] = subject
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = ctx.mail.mail_from
    msg["To"] = to
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = message_id_for(f"team:{key}", ctx.mail.reply_domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(TEMPLATES.get_template(f"{kind}.txt").render(values))
    msg.add_alternative(TEMPLATES.get_template(f"{kind}.html").render(values), subtype="html")
    return f"team:{key}", msg


async def send_team_mail(ctx: MailContext, payload: dict[str, Any]) -> dict[str, Any]:
    key, message = compose_team(ctx, payload)
    record = await ctx.store.record(
        {
            "_id": key,
            "workspace_id": str(payload.get("workspace_id") or ""),
            "conversation_id": None,
            "to": str(message["To"]),
            "message_id": message["Message-ID"],
        }
    )
    if record["status"] == "sent":
        return {"sent": True, "catcher": not ctx.mail.smtp_url}
    try:
        await ctx.transport.send(message)
    except (TemporaryFailure, PermanentFailure) as exc:
        await ctx.store.mark(key, "failed", str(exc))
        raise PermanentError(f"the email could not be sent: {exc}", code="not_sent") from exc
    await ctx.store.mark(key, "sent")
    return {"sent": True, "catcher": not ctx.mail.smtp_url}

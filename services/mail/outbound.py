"""The visitor's email about answers they missed: pending state, then one batched email.

Chat's facts (`agent_message`, `seen`) keep a durable pending document per conversation.
A duty loop takes the due ones (a lease, so replicas share) and for each decides:
nothing unseen → done; a widget of the visitor connected → look again shortly; no
address or an unsubscribed one → done; else one email with every unseen agent message.

No second copy across restarts: the email is recorded in the outbox under the key
`<conversation>:<last seq>` *before* it is sent, and the pending state moves on only
after. A restart finds the record: `sent` → nothing is sent again; `sending` (the
process died during the send) → sent again with the same Message-ID, which mail
clients collapse. That resend is the one remaining window: the relay accepted the
email and the process died before writing `sent` (docs: README, "Email").
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from services.mail import pending as pending_rules
from services.mail.addresses import reply_address, unsubscribe_token
from services.mail.compose import UnseenEmail, compose
from services.mail.context import MailContext
from services.mail.pending import hold, parse_time
from services.mail.pending import unseen as unseen_of
from services.mail.transport import PermanentFailure, TemporaryFailure
from shared import clock
from shared.continuity import ContinueGrant, continue_link_token, continue_link_url
from shared.errors import BusError
from shared.identifiers import normalize_email
from shared.metrics import MAIL_SEND_SECONDS, MAIL_SENT

log = logging.getLogger("parley.mail.outbound")

LEASE_S = 120.0
CONNECTED_RECHECK_S = 15.0
TEMPORARY_RETRY_S = 60.0
CLAIM_BATCH = 20


# --- chat's facts -----------------------------------------------------------------------
async def on_agent_message(ctx: MailContext, fact: dict[str, Any]) -> None:
    fields = ("workspace_id", "conversation_id", "visitor_id", "distinct_id", "email")
    author = (fact["message"].get("author") or {}).get("name") or ""
    if await hold(ctx.store.unseen, fact, ctx.mail.unseen_email_delay_s, fields, author=author):
        ctx.wake.set()  # no delay: the duty loop need not wait for its tick


async def on_seen(ctx: MailContext, fact: dict[str, Any]) -> None:
    await ctx.store.unseen.mark_seen(
        fact["conversation_id"], fact["workspace_id"], int(fact["seq"])
    )


# --- the duty ---------------------------------------------------------------------------
async def send_due(ctx: MailContext) -> int:
    """One pass over the due conversations; how many emails went out."""
    sent = 0
    for pending in await ctx.store.unseen.claim_due(LEASE_S, CLAIM_BATCH):
        try:
            sent += await _decide(ctx, pending)
        except Exception:
            log.exception("pending email failed", extra={"conversation": pending["_id"]})
            await ctx.store.unseen.settle(
                pending["_id"], 0, clock.now() + timedelta(seconds=LEASE_S)
            )
    return sent


async def _done(ctx: MailContext, pending: dict[str, Any], mailed_seq: int) -> None:
    await pending_rules.settle(ctx.store.unseen, pending, mailed_seq, ctx.mail.unseen_email_delay_s)


async def _later(ctx: MailContext, pending: dict[str, Any], seconds: float) -> None:
    await pending_rules.later(ctx.store.unseen, pending, seconds)


async def _decide(ctx: MailContext, pending: dict[str, Any]) -> int:
    unseen = unseen_of(pending)
    if not unseen:
        await _done(ctx, pending, 0)
        return 0
    if await visitor_connected(ctx, pending):
        await _later(ctx, pending, CONNECTED_RECHECK_S)
        return 0
    address = await address_of(ctx, pending)
    if address is None or await ctx.store.is_suppressed(pending["workspace_id"], address):
        await _done(ctx, pending, 0)
        return 0
    return await _send(ctx, pending, unseen, address)


CONNECTED = b'{"connected":true}'


async def visitor_connected(ctx: MailContext, pending: dict[str, Any]) -> bool:
    """Asked of every gateway (each answers for the sockets it holds): connected at the
    first yes; no gateway answering at all means no widget can be connected."""
    subject = ctx.bus.subjects.visitor_connected(pending["workspace_id"], pending["visitor_id"])
    answers = await ctx.bus.gather_answers(subject, b"", settled=lambda a: a == CONNECTED)
    return CONNECTED in answers


async def address_of(ctx: MailContext, pending: dict[str, Any]) -> str | None:
    """The person's email (contact or member) from identity, else the one given in chat."""
    ws, did = pending["workspace_id"], pending.get("distinct_id") or pending["visitor_id"]
    try:
        person = await ctx.bus.request(
            ctx.bus.subjects.request("identity", "profile.resolve"),
            {"workspace_id": ws, "distinct_id": did},
        )
    except BusError:  # identity away or no profile yet: the address given in this chat
        person = None
    found = normalize_email((person or {}).get("email"))
    return found or normalize_email(pending.get("email"))


def _email_of(
    ctx: MailContext,
    pending: dict[str, Any],
    thread: dict[str, Any],
    to: str,
    unseen: list[dict[str, Any]],
) -> UnseenEmail:
    ws, cid = pending["workspace_id"], pending["_id"]
    secret, public = ctx.settings.token_secret, ctx.settings.public_url
    link = continue_link_token(secret, ContinueGrant(ws, cid), ctx.mail.continue_link_ttl_s)
    unsubscribe = f"{public}/u/{unsubscribe_token(secret, ws, to)}"
    return UnseenEmail(
        key=f"{cid}:{unseen[-1]['seq']}",
        to=to,
        sender=ctx.mail.mail_from,
        reply_to=reply_address(secret, thread["_id"], ctx.mail.reply_domain),
        workspace=ctx.workspace_name(ws),
        messages=[{"author": m["author"], "text": m["text"]} for m in unseen],
        continue_url=continue_link_url(public, link),
        unsubscribe_url=unsubscribe,
        earlier_ids=list(thread.get("message_ids") or []),
    )


async def _send(
    ctx: MailContext, pending: dict[str, Any], unseen: list[dict[str, Any]], to: str
) -> int:
    thread = await ctx.store.thread_of(pending)
    email = _email_of(ctx, pending, thread, to, unseen)
    message = compose(email, ctx.mail.reply_domain)
    last = unseen[-1]["seq"]
    record = await ctx.store.record(
        {
            "_id": email.key,
            "workspace_id": pending["workspace_id"],
            "conversation_id": pending["_id"],
            "thread_id": thread["_id"],
            "to": to,
            "message_id": message["Message-ID"],
            "seqs": [m["seq"] for m in unseen],
        }
    )
    if record["status"] in ("sent", "failed"):  # settled before a restart
        await _done(ctx, pending, last)
        return 0
    await ctx.store.mailing(thread["_id"], to)
    return await _deliver(ctx, pending, email, message, thread, last)


async def _deliver(
    ctx: MailContext,
    pending: dict[str, Any],
    email: UnseenEmail,
    message: Any,
    thread: dict[str, Any],
    last: int,
) -> int:
    first_unseen = parse_time(min(m["created_at"] for m in unseen_of(pending)))
    try:
        await ctx.transport.send(message)
    except TemporaryFailure as exc:
        log.warning("email deferred: %s", exc, extra={"conversation": pending["_id"]})
        await ctx.store.mark(email.key, "deferred", str(exc))
        MAIL_SENT.labels("deferred").inc()
        await _later(ctx, pending, TEMPORARY_RETRY_S)
        return 0
    except PermanentFailure as exc:
        await ctx.store.mark(email.key, "failed", str(exc))
        MAIL_SENT.labels("bounced").inc()
        await ctx.note_to_agents(
            pending,
            f"bounce-{email.key.replace(':', '-')}",
            f"The email to {email.to} was refused: {exc}. The visitor has not been told.",
        )
        await _done(ctx, pending, last)
        return 0
    await ctx.store.mark(email.key, "sent")
    await ctx.store.add_message_id(thread["_id"], message["Message-ID"])
    MAIL_SENT.labels("sent").inc()
    MAIL_SEND_SECONDS.observe(max(0.0, (clock.now() - first_unseen).total_seconds()))
    await _done(ctx, pending, last)
    return 1

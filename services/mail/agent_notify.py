"""The agents' email about a visitor message nobody read (`PARLEY_AGENT_NOTIFY_DELAY_S`).

Chat's `visitor_message` facts fill the agents' pending box; `agent_read` and
`agent_message` (an answer is a reading) mark it read. When a message stays unread
past the delay, the assigned agent, or every agent when unassigned, gets one email
quoting the unread messages and linking to the conversation; who that is, and who
opted out, the dashboard answers (`P.dashboard.agents.notify_targets`). Recorded in
the outbox before it is sent, per agent, like the visitor's email.
"""

from __future__ import annotations

import logging
from typing import Any

from services.mail import pending as pending_rules
from services.mail.compose import AgentEmail, compose_for_agent
from services.mail.context import MailContext
from services.mail.pending import hold, unseen
from services.mail.transport import PermanentFailure, TemporaryFailure
from shared.errors import BusError

log = logging.getLogger("parley.mail.agents")

LEASE_S = 120.0
RETRY_S = 60.0
CLAIM_BATCH = 20


async def on_visitor_message(ctx: MailContext, fact: dict[str, Any]) -> None:
    fields = ("workspace_id", "conversation_id", "visitor_id", "assignee_id")
    if await hold(ctx.store.unread, fact, ctx.mail.agent_notify_delay_s, fields):
        ctx.wake.set()


async def on_agent_read(
    ctx: MailContext, conversation_id: str, workspace_id: str, seq: int
) -> None:
    await ctx.store.unread.mark_seen(conversation_id, workspace_id, seq)


async def notify_due(ctx: MailContext) -> int:
    sent = 0
    box = ctx.store.unread
    for pending in await box.claim_due(LEASE_S, CLAIM_BATCH):
        try:
            sent += await _notify(ctx, pending)
        except Exception:
            log.exception("agent notification failed", extra={"conversation": pending["_id"]})
            await pending_rules.later(box, pending, LEASE_S)
    return sent


async def _targets(ctx: MailContext, pending: dict[str, Any]) -> list[dict[str, Any]]:
    result = await ctx.bus.request(
        ctx.bus.subjects.request("dashboard", "agents.notify_targets"),
        {"workspace_id": pending["workspace_id"], "assignee_id": pending.get("assignee_id")},
    )
    return list(result.get("agents") or [])


async def _notify(ctx: MailContext, pending: dict[str, Any]) -> int:
    box, delay = ctx.store.unread, ctx.mail.agent_notify_delay_s
    messages = unseen(pending)
    if not messages:
        await pending_rules.settle(box, pending, 0, delay)
        return 0
    try:
        agents = await _targets(ctx, pending)
    except BusError:  # the dashboard is away: ask again shortly
        await pending_rules.later(box, pending, RETRY_S)
        return 0
    last = messages[-1]["seq"]
    sent, retry = 0, False
    for agent in agents:
        outcome = await _send_one(ctx, pending, messages, agent, last)
        sent += outcome == "sent"
        retry = retry or outcome == "deferred"
    if retry:
        await pending_rules.later(box, pending, RETRY_S)
    else:
        await pending_rules.settle(box, pending, last, delay)
    return sent


async def _send_one(
    ctx: MailContext,
    pending: dict[str, Any],
    messages: list[dict[str, Any]],
    agent: dict[str, Any],
    last: int,
) -> str:
    cid = pending["_id"]
    email = AgentEmail(
        key=f"agent:{cid}:{last}:{agent['id']}",
        to=agent["email"],
        sender=ctx.mail.mail_from,
        workspace=ctx.workspace_name(pending["workspace_id"]),
        messages=[{"text": m["text"]} for m in messages],
        conversation_url=f"{ctx.settings.dashboard_url}/conversations/{cid}",
        settings_url=f"{ctx.settings.dashboard_url}/me",
        assigned=bool(pending.get("assignee_id")),
    )
    message = compose_for_agent(email, ctx.mail.reply_domain)
    record = await ctx.store.record(
        {
            "_id": email.key,
            "workspace_id": pending["workspace_id"],
            "conversation_id": cid,
            "to": email.to,
            "message_id": message["Message-ID"],
            "seqs": [m["seq"] for m in messages],
        }
    )
    if record["status"] in ("sent", "failed"):
        return str(record["status"])
    try:
        await ctx.transport.send(message)
    except TemporaryFailure as exc:
        await ctx.store.mark(email.key, "deferred", str(exc))
        return "deferred"
    except PermanentFailure as exc:
        log.warning("agent email refused: %s", exc, extra={"agent": agent["id"]})
        await ctx.store.mark(email.key, "failed", str(exc))
        return "failed"
    await ctx.store.mark(email.key, "sent")
    return "sent"

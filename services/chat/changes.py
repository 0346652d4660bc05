"""What follows a stored change of a conversation's status or assignee, wherever it was
made (the conversation page, a bulk action): the durable fact (webhooks), the thread's
activity lines, and the visitor's `status` frame. The agents' live frame is the
caller's (a bulk action sends its conversations' frames once, after all its changes)."""

from __future__ import annotations

from typing import Any

from services.chat import activity, facts
from services.chat.context import ChatContext
from shared.schema.live import VisitorStatus


async def followups(
    ctx: ChatContext,
    before: dict[str, Any],
    after: dict[str, Any],
    by: dict[str, Any],
    names: dict[str, str] | None = None,
) -> None:
    """`by`: the agent `{id, name}` who made the change; `names`: agents' names the
    caller knows (an assignee not named there is named from who is online)."""
    await facts.changed(ctx.bus, before, after)
    await _activity_lines(ctx, before, after, by, names or {})
    if after["status"] != before["status"]:
        status = VisitorStatus(conversation_id=after["_id"], status=after["status"])
        await ctx.live.to_visitor(after["workspace_id"], after["visitor_id"], status)


async def _activity_lines(
    ctx: ChatContext,
    before: dict[str, Any],
    after: dict[str, Any],
    by: dict[str, Any],
    names: dict[str, str],
) -> None:
    """An activity line for each change made (none for what stayed)."""
    if after.get("assignee_id") != before.get("assignee_id"):
        if to := after.get("assignee_id"):
            who = {"id": to, "name": names.get(to) or _online_name(ctx, after, to)}
            await activity.record(ctx, after, "assigned", by, to=who)
        else:
            await activity.record(ctx, after, "unassigned", by)
    status, was = after["status"], before["status"]
    if status != was or (
        status == "snoozed" and after.get("snoozed_until") != before.get("snoozed_until")
    ):
        if status == "snoozed":
            await activity.record(ctx, after, "snoozed", by, until=after.get("snoozed_until"))
        elif status == "open":
            await activity.record(ctx, after, "reopened", by)
        else:
            await activity.record(ctx, after, status, by)  # resolved, pending


def _online_name(ctx: ChatContext, conversation: dict[str, Any], agent_id: str) -> str | None:
    online = {a.id: a.name for a in ctx.presence.online(conversation["workspace_id"])}
    return online.get(agent_id)

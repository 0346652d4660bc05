"""Tell every open widget of a workspace when "someone will answer" changes.

The view (`presence.visitor_view`) changes when the first agent comes online, the
last one signs off or goes silent, business hours open or close, or an admin edits
the hours or the away message. Heartbeat and expiry changes are announced at once;
the duty loop re-evaluates every workspace each tick for the rest (the clock and
the watched workspace registry), and only a view that differs from the last one
announced is published. Every chat replica announces the same frames: widgets
treat a repeat as a no-op.
"""

from __future__ import annotations

from services.chat.context import ChatContext
from services.chat.presence import visitor_frame, visitor_view


async def announce(ctx: ChatContext, workspace_id: str) -> bool:
    """Publish the workspace's visitor view if it changed; True when it was published."""
    workspace = ctx.workspaces.get(workspace_id)
    if workspace is None:
        return False
    minutes = await ctx.reply_times.minutes(workspace_id)
    view = visitor_view(
        ctx.presence.available(workspace), workspace, ctx.presence.wall_clock(), minutes
    )
    frame = visitor_frame(view)
    if not ctx.presence.is_news(workspace_id, frame):
        return False
    await ctx.live.to_visitors(workspace_id, frame)
    ctx.presence.announced(workspace_id, frame)  # only once sent: a failed publish retries
    return True


async def announce_all(ctx: ChatContext) -> int:
    """One tick of the timer: hours that opened or closed, settings that changed."""
    if not ctx.presence.settled():
        return 0
    published = 0
    for workspace in ctx.workspaces.all():
        published += await announce(ctx, workspace.id)
    return published

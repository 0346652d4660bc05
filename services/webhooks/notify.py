"""The admins' email when an endpoint is disabled: who they are is the dashboard's to say
(`P.dashboard.agents.admins`), the email is the mail service's (`P.mail.team.send`, kind
`webhook_disabled`). Best effort: without either service the banner in settings remains."""

from __future__ import annotations

import logging
import time
from typing import Any

from services.webhooks.context import WebhooksContext
from shared.errors import BusError

log = logging.getLogger("parley.webhooks")


def window_text(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:g} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:g} hours"
    return f"{seconds:g} seconds"


async def endpoint_disabled(ctx: WebhooksContext, endpoint: dict[str, Any], reason: str) -> int:
    """Email every active admin of the endpoint's workspace; how many emails went out."""
    bus, ws = ctx.bus, endpoint["workspace_id"]
    try:
        found = await bus.request(
            bus.subjects.request("dashboard", "agents.admins"), {"workspace_id": ws}
        )
    except BusError as exc:
        log.warning("no admins to tell of a disabled webhook: %s (%s)", exc, exc.code)
        return 0
    sent = 0
    link = f"{ctx.settings.dashboard_url}/settings/webhooks"
    stamp = int(time.time())  # a later disable (after a re-enable) is a new email
    for admin in found.get("agents", []):
        payload = {
            "kind": "webhook_disabled",
            "to": admin["email"],
            "link": link,
            "key": f"webhook_disabled:{endpoint['_id']}:{stamp}:{admin['id']}"[:128],
            "workspace_id": ws,
            "url": endpoint["url"],
            "reason": reason,
        }
        try:
            await bus.request(bus.subjects.request("mail", "team.send"), payload, timeout=10)
            sent += 1
        except BusError as exc:
            log.warning("webhook-disabled email not sent: %s (%s)", exc, exc.code)
    return sent

"""The dashboard's own emails, sent by the mail service (`P.mail.team.send`): an
invitation and a password-reset link. The key is a digest of the one-time token, never
the token, so the outbox does not hold a usable link."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from aiohttp import web

from services.dashboard.ask import ask
from shared.errors import BusError

log = logging.getLogger("parley.dashboard.mail")


async def send(
    app: web.Application, kind: str, to: str, token: str, link: str, **extra: Any
) -> dict[str, Any] | None:
    """The mail service's answer, or None when it could not send (the caller says so)."""
    payload = {
        "kind": kind,
        "to": to,
        "link": link,
        "key": f"{kind}:{hashlib.sha256(token.encode()).hexdigest()[:40]}",
        **extra,
    }
    try:
        result: dict[str, Any] = await ask(app, "mail", "team.send", payload, timeout=10.0)
    except BusError as exc:
        log.warning("%s email not sent: %s (%s)", kind, exc, exc.code)
        return None
    return result

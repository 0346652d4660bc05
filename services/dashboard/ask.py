"""Requests to the chat and identity services, and how a page degrades without them.

A page never fails because another service is down: `Notices.ask` turns a
`BusError` into a visible notice and a default value, and the page renders the rest.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from aiohttp import web

from shared.errors import BusError
from shared.web import BUS

log = logging.getLogger("parley.dashboard")

TIMEOUT = 3.0
SERVICE_NAMES = {"chat": "Chat", "identity": "Identity", "mail": "Mail", "webhooks": "Webhooks"}


async def ask(
    app: web.Application,
    service: str,
    verb: str,
    payload: dict[str, Any] | msgspec.Struct,
    timeout: float = TIMEOUT,
) -> Any:
    """Ask a service; `payload` is best the verb's Struct (shared/schema/*_requests.py)."""
    bus = app[BUS]
    return await bus.request(bus.subjects.request(service, verb), payload, timeout=timeout)


class Notices:
    """Collects what could not be loaded, for the banner at the top of the page."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.items: list[str] = []

    def add(self, text: str) -> None:
        if text not in self.items:
            self.items.append(text)

    async def ask(
        self,
        service: str,
        verb: str,
        payload: dict[str, Any] | msgspec.Struct,
        default: Any,
        what: str,
        required: bool = False,
    ) -> Any:
        """The result, or `default` plus a notice; `not_found` of a required thing is a 404."""
        try:
            return await ask(self.app, service, verb, payload)
        except BusError as exc:
            if exc.code == "not_found":
                if required:
                    raise web.HTTPNotFound(text=f"{what} not found.\n") from exc
                return default
            log.warning("%s.%s failed: %s (%s)", service, verb, exc, exc.code)
            self.add(
                f"{SERVICE_NAMES.get(service, service)} is not answering right now, "
                f"so {what} could not be loaded. The page will work again once it is back."
            )
            return default

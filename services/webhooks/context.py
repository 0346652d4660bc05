"""What every part of the webhooks service shares."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

import aiohttp

from services.webhooks.store import WebhooksStore
from shared.bus import Bus
from shared.settings import Settings, WebhookSettings


@dataclass
class WebhooksContext:
    bus: Bus
    store: WebhooksStore
    settings: Settings
    http: aiohttp.ClientSession
    # deliveries running now, per endpoint (this process): at most `in_flight` each
    running: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # set when a delivery falls due before the worker's next tick
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def hooks(self) -> WebhookSettings:
        return self.settings.webhooks

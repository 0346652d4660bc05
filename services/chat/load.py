"""How far behind chat is with visitors' messages, announced so widgets are told early.

After each inbound batch chat knows how long its oldest message waited between the
gateway taking it (`sent_at`) and its storing. Past `BUSY_AFTER` seconds chat is busy:
it publishes `{"busy": true, "delay": <seconds>}` on `P.chat.load` (core NATS) at once
and every `REPEAT_EVERY` seconds while it stays busy; once messages wait less than
`CLEAR_BELOW`, `{"busy": false, "delay": ...}` once (shared/schema/chat_load.py). Every gateway keeps the latest
word (and forgets a busy one after `STALE_AFTER` without a repeat: a chat that died
busy does not leave widgets warned forever) and tells a widget whose message it just
accepted (docs/widget-protocol.md, `busy`). Nothing is refused: every message is
stored durably already and reaches the agents, later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime

from shared import clock
from shared.bus import Bus
from shared.schema.chat_load import REPEAT_EVERY, ChatLoadWord

log = logging.getLogger("parley.chat.load")

BUSY_AFTER = 2.0
CLEAR_BELOW = 1.0


class ChatLoad:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.busy = False
        self.delay = 0.0
        self._said_at = 0.0

    async def batch_stored(self, sent_at: Iterable[datetime | None]) -> None:
        """Note how long the batch's oldest message waited; announce a change."""
        times = [t for t in sent_at if t is not None]
        if not times:
            return
        self.delay = max(0.0, (clock.now() - min(times)).total_seconds())
        was = self.busy
        self.busy = self.delay > BUSY_AFTER or (was and self.delay >= CLEAR_BELOW)
        repeat = self.busy and time.monotonic() - self._said_at >= REPEAT_EVERY
        if self.busy != was or repeat:
            await self._announce()

    async def _announce(self) -> None:
        self._said_at = time.monotonic()
        try:
            word = ChatLoadWord(busy=self.busy, delay=round(self.delay, 1))
            await self.bus.publish(self.bus.subjects.chat_load, word)
        except Exception as exc:  # noqa: BLE001 - a warning only; the next batch says it again
            log.warning("could not announce chat's load: %r", exc)
        if self.busy:
            log.info("visitor messages wait %.1f s before they are stored", self.delay)

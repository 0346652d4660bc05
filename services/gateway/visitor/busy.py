"""What chat last said of its load (`P.chat.load`, services/chat/load.py), for the widgets.

One subscription per gateway process. While chat is busy, each visitor message or
email the gateway accepts is followed by a `busy` frame (docs/widget-protocol.md):
the message is safe and will be delivered, replies may be slow. A busy word not
repeated within `STALE_AFTER` seconds is forgotten (chat repeats it while busy).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from shared.bus import Bus
from shared.schema.chat_load import STALE_AFTER, ChatLoadWord


class ChatLoadView:
    def __init__(self, monotonic: Any = time.monotonic) -> None:
        self.monotonic = monotonic
        self._delay = 0.0
        self._busy_until = 0.0

    async def start(self, bus: Bus) -> None:
        await bus.subscribe(bus.subjects.chat_load, self.heard)

    async def heard(self, word: Any) -> None:
        try:
            load = msgspec.convert(word, ChatLoadWord)
        except msgspec.ValidationError:
            return
        self._delay = max(0.0, load.delay)
        self._busy_until = self.monotonic() + STALE_AFTER if load.busy else 0.0

    @property
    def busy(self) -> bool:
        return self.monotonic() < self._busy_until

    def frame(self, ref: str | None) -> dict[str, Any]:
        """The `busy` frame after accepting the message `ref`."""
        return {"type": "busy", "ref": ref, "delay": round(min(self._delay, 3600.0), 1)}

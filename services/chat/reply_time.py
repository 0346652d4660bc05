""" "Usually replies in a few minutes": the median first response of the last 7 days.

Each conversation keeps `first_reply_at` (set once by the fold, services/chat/fold.py);
the median is read from the (workspace, first_reply_at) index and cached per
workspace for `ttl` seconds, so presence frames and `presence.get` cost no query
most of the time. A workspace with no answered conversation in the window has no
figure (None): the widget then says nothing about reply times.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from services.chat.store import ChatStore
from shared import clock

WINDOW = timedelta(days=7)
TTL_SECONDS = 300.0


class ReplyTimes:
    def __init__(
        self,
        store: ChatStore,
        ttl: float = TTL_SECONDS,
        now: Callable[[], datetime] = clock.now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.now = now
        self.monotonic = monotonic
        self._cache: dict[str, tuple[float, float | None]] = {}

    async def median_seconds(self, workspace_id: str) -> float | None:
        cached = self._cache.get(workspace_id)
        if cached is not None and self.monotonic() < cached[0]:
            return cached[1]
        times = await self.store.first_responses(workspace_id, self.now() - WINDOW)
        median = statistics.median(times) if times else None
        self._cache[workspace_id] = (self.monotonic() + self.ttl, median)
        return median

    async def minutes(self, workspace_id: str) -> int | None:
        """The median rounded up to whole minutes (at least 1), None without data."""
        median = await self.median_seconds(workspace_id)
        return None if median is None else max(1, math.ceil(median / 60))

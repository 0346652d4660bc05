"""The event debugger's memory: the latest entries of each workspace's gateway feed.

Every dashboard process subscribes to `P.debug.events.*` (core NATS, published by the
gateway, services/gateway/debug_feed.py) and keeps the newest `KEEP` entries of each
workspace in memory, numbered in arrival order so a page can ask for what came after
the last one it shows. Nothing is stored: a restarted dashboard starts empty, as the
feed is only a window on what arrives now (what identity later refuses is in the
dead letters; the gateway's refusals of origins and user hashes are in the audit log).
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from shared.schema.debug_feed import DebugEntry, read_entries
from shared.web import BUS

log = logging.getLogger("parley.dashboard.debug_feed")

KEEP = 200  # per workspace
MAX_WORKSPACES = 1000  # a bound on memory whatever the feed carries


@dataclass(frozen=True)
class Seen:
    seq: int
    at: str
    entry: DebugEntry

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, **msgspec.to_builtins(self.entry)}


class DebugFeed:
    def __init__(self) -> None:
        self._seq = itertools.count(1)
        self._by_workspace: dict[str, deque[Seen]] = {}

    def add(self, payload: Any) -> int:
        """Keep a feed payload's entries; returns how many (0 for one that does not fit)."""
        entries = read_entries(payload)
        if entries is None:
            log.warning("debugger feed payload refused: not a DebugEntries")
            return 0
        kept = self._by_workspace.get(entries.workspace_id)
        if kept is None:
            if len(self._by_workspace) >= MAX_WORKSPACES:
                return 0
            kept = self._by_workspace[entries.workspace_id] = deque(maxlen=KEEP)
        for entry in entries.entries:
            kept.append(Seen(next(self._seq), entries.at, entry))
        if entries.omitted:
            summary = DebugEntry(
                status="accepted",
                route=entries.entries[-1].route if entries.entries else "",
                reason=f"and {entries.omitted} more message(s) of the same call, not shown",
            )
            kept.append(Seen(next(self._seq), entries.at, summary))
        return len(entries.entries)

    def latest(self, workspace_id: str, after: int = 0, limit: int = KEEP) -> list[Seen]:
        """The workspace's entries after `after`, oldest first, at most the newest `limit`."""
        kept = self._by_workspace.get(workspace_id) or deque()
        newer = [seen for seen in kept if seen.seq > after]
        return newer[-limit:]


FEED: web.AppKey[DebugFeed] = web.AppKey("dashboard_debug_feed", DebugFeed)


def setup(app: web.Application) -> None:
    """Subscribe once the bus is up; the subscription ends with the bus."""
    app[FEED] = DebugFeed()

    async def feed_ctx(app: web.Application):
        bus = app[BUS]

        async def on_entries(payload: Any) -> None:
            app[FEED].add(payload)

        sub = await bus.subscribe(bus.subjects.debug_events_all, on_entries)
        yield
        try:
            await sub.unsubscribe()
        except Exception as exc:  # noqa: BLE001 - the connection may be closing already
            log.debug("debugger feed unsubscribe: %r", exc)

    app.cleanup_ctx.append(feed_ctx)

"""Retention sweeps: every `PARLEY_RETENTION_SWEEP_S`, each owning service removes what its
workspaces keep no longer (identity: events; chat: resolved conversations).

The sweep is a loop in the service, not a TTL index: the retention is a workspace
setting an admin changes at any time, and one TTL index holds one fixed age for the
whole collection. What is removed is counted on `parley_retention_removed_total`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from shared import clock
from shared.metrics import RETENTION_REMOVED
from shared.workspaces import Workspace, WorkspaceRegistry

log = logging.getLogger("parley.retention")

BATCH = 500  # removed a batch at a time: no sweep holds a huge delete

Sweep = Callable[[Workspace, datetime], Awaitable[dict[str, int]]]


def cutoff(days: int, now: datetime | None = None) -> datetime:
    return (now or clock.now()) - timedelta(days=days)


def declare(service: str, kinds: tuple[str, ...]) -> None:
    """Every figure a service sweeps shows from the start, at 0."""
    for kind in kinds:
        RETENTION_REMOVED.labels(service, kind)


async def sweep_once(
    service: str,
    workspaces: WorkspaceRegistry,
    days_of: Callable[[Workspace], int],
    sweep: Sweep,
) -> dict[str, int]:
    """One pass over every workspace with a retention set; the counts removed."""
    total: dict[str, int] = {}
    for ws in workspaces.all():
        days = days_of(ws)
        if days <= 0:
            continue
        removed = await sweep(ws, cutoff(days))
        for kind, n in removed.items():
            if n:
                RETENTION_REMOVED.labels(service, kind).inc(n)
                total[kind] = total.get(kind, 0) + n
    if total:
        log.info("retention sweep removed %s", total, extra={"service": service})
    return total


async def sweep_every(
    every: float,
    service: str,
    workspaces: WorkspaceRegistry,
    days_of: Callable[[Workspace], int],
    sweep: Sweep,
) -> None:
    """The loop a service runs for its life: a pass, then `every` seconds, again."""
    while True:
        try:
            await sweep_once(service, workspaces, days_of, sweep)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("retention sweep failed; trying again at the next one")
        await asyncio.sleep(every)

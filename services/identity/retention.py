"""Retention at identity: the events older than their workspace's `retention_events_days`
removed, a batch at a time, at every sweep (shared/retention.py). Profiles, traits and
ids stay: only the event records go."""

from __future__ import annotations

from datetime import datetime

from services.identity.store import IdentityStore
from shared import retention
from shared.workspaces import Workspace, WorkspaceRegistry

KINDS = ("events",)


async def sweep_events(store: IdentityStore, ws: Workspace, before: datetime) -> dict[str, int]:
    removed = 0
    while True:
        n = await store.sweep_events(ws.id, before, retention.BATCH)
        removed += n
        if n < retention.BATCH:
            return {"events": removed}


async def run(store: IdentityStore, workspaces: WorkspaceRegistry, every: float) -> None:
    retention.declare("identity", KINDS)

    async def sweep(ws: Workspace, before: datetime) -> dict[str, int]:
        return await sweep_events(store, ws, before)

    await retention.sweep_every(
        every, "identity", workspaces, lambda w: w.retention_events_days, sweep
    )

"""Suppressions (Segment's "suppress with delete"): ids whose later events are dropped.

A person deleted with `suppress` leaves one record naming every id they had (distinct
ids, user ids, visitor ids), in a JetStream key-value bucket (`<prefix>_suppressions`):
identity writes it before the `person_deleted` fact, an admin lifts it (the dashboard's
Suppressions page, `DELETE /v1/suppressions/{id}`). Every gateway replica keeps a live
in-memory index through a watch, like the workspaces (shared/workspaces.py), so the
check at ingest is one set look-up per id, no round trip. Drops are counted on the
gateway's metrics (`parley_ingest_suppressed_total`) and, a few seconds late, on the
record itself (`dropped`, what the dashboard shows), added by each replica with
compare-and-set.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from nats.js.errors import (
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
)

from shared import clock, tasks
from shared.bus import Bus
from shared.metrics import INGEST_SUPPRESSED

log = logging.getLogger("parley.suppressions")

FLUSH_EVERY_SECONDS = 2.0
MAX_IDS = 100_000


@dataclass(frozen=True)
class Suppression:
    id: str
    workspace_id: str
    profile_id: str
    ids: list[str]
    created_at: str
    actor: dict[str, Any] = field(default_factory=dict)
    dropped: int = 0

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Suppression:
        raw = json.loads(data)
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def view(self) -> dict[str, Any]:
        """What the API and the dashboard show."""
        return {
            "id": self.id,
            "profile_id": self.profile_id,
            "ids": list(self.ids),
            "created_at": self.created_at,
            "actor": dict(self.actor),
            "dropped": self.dropped,
        }


def suppression_id(workspace_id: str, profile_id: str) -> str:
    """A key the bucket accepts whatever the ids hold (hex), stable for one person."""
    return "s" + hashlib.sha256(f"{workspace_id}\0{profile_id}".encode()).hexdigest()[:31]


def new(workspace_id: str, profile_id: str, ids: list[str], actor: dict[str, Any]) -> Suppression:
    kept = sorted({i for i in ids if isinstance(i, str) and i})[:MAX_IDS]
    return Suppression(
        id=suppression_id(workspace_id, profile_id),
        workspace_id=workspace_id,
        profile_id=profile_id,
        ids=kept,
        created_at=clock.iso_now(),
        actor=actor,
    )


async def _bucket(bus: Bus) -> Any:
    js = bus.js
    assert js is not None, "the bus is connected"
    name = bus.subjects.suppressions_bucket
    try:
        return await js.key_value(name)
    except BucketNotFoundError:
        return await js.create_key_value(bucket=name, history=1)


# --- writes and reads straight on the bucket (identity, the dashboard) ----------------
async def add(bus: Bus, record: Suppression) -> None:
    await (await _bucket(bus)).put(record.id, record.to_json())


async def of_workspace(bus: Bus, workspace_id: str) -> list[Suppression]:
    """The workspace's suppressions, newest first (read now, not from a watch)."""
    kv = await _bucket(bus)
    try:
        keys = await kv.keys()
    except NoKeysError:
        return []
    found = []
    for key in keys:
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            continue  # lifted meanwhile
        if entry.value:
            record = Suppression.from_json(entry.value)
            if record.workspace_id == workspace_id:
                found.append(record)
    return sorted(found, key=lambda r: (r.created_at, r.id), reverse=True)


async def get(bus: Bus, workspace_id: str, sid: str) -> Suppression | None:
    if not _plain(sid):
        return None
    try:
        entry = await (await _bucket(bus)).get(sid)
    except KeyNotFoundError:
        return None
    if not entry.value:
        return None
    record = Suppression.from_json(entry.value)
    return record if record.workspace_id == workspace_id else None


async def lift(bus: Bus, workspace_id: str, sid: str) -> bool:
    """Lift one of the workspace's suppressions: its ids' events are accepted again."""
    if await get(bus, workspace_id, sid) is None:
        return False
    await (await _bucket(bus)).delete(sid)
    return True


def _plain(sid: str) -> bool:
    return len(sid) == 32 and sid[0] == "s" and all(c in "0123456789abcdef" for c in sid[1:])


# --- the gateway's live index ---------------------------------------------------------
class SuppressionBook:
    """Every replica's watched copy: `dropping(workspace, ids)` is a set look-up per id."""

    def __init__(self, bus: Bus, flush_every: float = FLUSH_EVERY_SECONDS) -> None:
        self.bus = bus
        self.flush_every = flush_every
        self._records: dict[str, Suppression] = {}
        # workspace -> id -> the suppressions naming it (two deleted persons may share one)
        self._index: dict[str, dict[str, set[str]]] = {}
        self._counts: Counter[str] = Counter()
        self._kv: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loaded = asyncio.Event()

    async def start(self) -> None:
        self._kv = await _bucket(self.bus)
        self._tasks = [
            asyncio.create_task(self._watch()),
            asyncio.create_task(self._flush_now_and_then()),
        ]
        await asyncio.wait_for(self._loaded.wait(), 10)

    async def stop(self) -> None:
        await tasks.stop(*self._tasks)
        try:
            await self.flush()
        except Exception as exc:  # noqa: BLE001 - stopping with NATS away: the metric has them
            log.warning("suppression counts lost at stop: %s", exc)

    def dropping(self, workspace_id: str, ids: tuple[str | None, ...]) -> str | None:
        """The suppression naming one of the ids (counted as one drop), or None."""
        index = self._index.get(workspace_id)
        if not index:
            return None
        for value in ids:
            if value is not None and (named := index.get(value)):
                sid = min(named)
                self._counts[sid] += 1
                INGEST_SUPPRESSED.inc()
                return sid
        return None

    def of_workspace(self, workspace_id: str) -> list[Suppression]:
        found = [r for r in self._records.values() if r.workspace_id == workspace_id]
        return sorted(found, key=lambda r: (r.created_at, r.id), reverse=True)

    # --- the watch ----------------------------------------------------------------------
    async def _watch(self) -> None:
        while True:
            try:
                watcher = await self._kv.watchall()
                async for entry in watcher:
                    if entry is None:
                        self._loaded.set()
                        continue
                    if entry.operation in ("DEL", "PURGE") or not entry.value:
                        self._forget(entry.key)
                    else:
                        self._learn(Suppression.from_json(entry.value))
                    self._loaded.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS restarting: watch again
                log.warning("suppression watch interrupted: %s", exc)
                await asyncio.sleep(1)

    def _learn(self, record: Suppression) -> None:
        self._forget(record.id)
        self._records[record.id] = record
        index = self._index.setdefault(record.workspace_id, {})
        for value in record.ids:
            index.setdefault(value, set()).add(record.id)

    def _forget(self, sid: str) -> None:
        old = self._records.pop(sid, None)
        if old is None:
            return
        index = self._index.get(old.workspace_id, {})
        for value in old.ids:
            named = index.get(value)
            if named is not None:
                named.discard(sid)
                if not named:
                    del index[value]

    # --- the drop counts on the records ----------------------------------------------
    async def _flush_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(self.flush_every)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - counted again at the next flush
                log.warning("suppression counts not flushed: %s", exc)

    async def flush(self) -> None:
        counts, self._counts = self._counts, Counter()
        for sid, n in counts.items():
            try:
                await self._add_dropped(sid, n)
            except Exception:
                self._counts[sid] += n  # NATS away: kept for the next flush
                raise

    async def _add_dropped(self, sid: str, n: int) -> None:
        while True:
            try:
                entry = await self._kv.get(sid)
            except KeyNotFoundError:
                return  # lifted: nothing to count on
            if not entry.value:
                return
            record = Suppression.from_json(entry.value)
            changed = replace(record, dropped=record.dropped + n)
            try:
                await self._kv.update(sid, changed.to_json(), last=entry.revision)
                return
            except KeyWrongLastSequenceError:
                continue  # another replica flushed meanwhile

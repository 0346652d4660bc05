"""Audit records: one JSON log line each, and for services without a database (the
gateway) a durable publish on `P.audit.<workspace>.refused` that the dashboard stores.

The gateway reports what it refuses (an origin not on the allow-list, a missing or
wrong `user_hash`) with `refused(bus, ...)`. Refused calls can come in floods, so a
gateway process aggregates: the first refusal of a (workspace, reason, origin) is
published at once, the ones after it within `WINDOW` seconds are counted and published
as one record (`count`) when the window ends. At most `MAX_KEYS` keys are tracked per
window; beyond that (an attacker inventing origins) refusals fold into one record
whose origin is `OTHER_ORIGINS`. So one process publishes at most
`MAX_KEYS + workspaces * reasons` records per window, however many calls it refuses.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any

from shared import clock
from shared.bus import Bus
from shared.metrics import AUDIT_RECORDS, AUDIT_REFUSALS

log = logging.getLogger("parley.audit")

WINDOW = 10.0
MAX_KEYS = 100
MAX_ORIGIN = 200
OTHER_ORIGINS = "(other origins)"
REASONS = ("origin", "user_hash", "identity_token")

_Key = tuple[str, str, str | None]


def log_line(record: dict[str, Any]) -> None:
    """The structured log line of an audit record (`audit` holds the record)."""
    log.info("audit %s", record.get("action"), extra={"audit": record})


@dataclass
class _Window:
    count: int = 0
    ip: str | None = None
    channel: str | None = None
    first_at: str | None = None
    last_at: str | None = None

    def add(self, ip: str | None, channel: str | None) -> None:
        now = clock.iso_now()
        self.count += 1
        self.ip, self.channel, self.last_at = ip, channel, now
        self.first_at = self.first_at or now


@dataclass
class RefusalReporter:
    """Aggregates one process's refusals and publishes them (see the module docstring)."""

    bus: Bus
    window: float = field(default_factory=lambda: WINDOW)
    max_keys: int = field(default_factory=lambda: MAX_KEYS)
    _open: dict[_Key, _Window] = field(default_factory=dict)
    _process: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _seq: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def refused(
        self,
        workspace_id: str,
        reason: str,
        *,
        origin: str | None = None,
        ip: str | None = None,
        channel: str | None = None,
    ) -> None:
        """Count one refusal; never blocks and never raises (the refusal already happened)."""
        AUDIT_REFUSALS.labels(reason).inc()
        key = self._key(workspace_id, reason, origin)
        pending = self._open.get(key)
        if pending is not None:
            pending.add(ip, channel)
            return
        first = _Window()
        first.add(ip, channel)
        self._emit(key, first)
        self._open[key] = _Window()
        asyncio.get_running_loop().call_later(self.window, self._window_ended, key)

    def _key(self, workspace_id: str, reason: str, origin: str | None) -> _Key:
        origin = origin[:MAX_ORIGIN] if origin else None
        key = (workspace_id, reason, origin)
        if key not in self._open and len(self._open) >= self.max_keys:
            return (workspace_id, reason, OTHER_ORIGINS)
        return key

    def _window_ended(self, key: _Key) -> None:
        pending = self._open.pop(key, None)
        if pending is None or not pending.count:
            return  # nothing more came in: the next refusal is published at once again
        self._emit(key, pending)
        self._open[key] = _Window()
        asyncio.get_running_loop().call_later(self.window, self._window_ended, key)

    def _emit(self, key: _Key, window: _Window) -> None:
        workspace_id, reason, origin = key
        self._seq += 1
        record = {
            "id": f"{self._process}:{self._seq}",
            "action": f"{reason}.refused",
            "workspace_id": workspace_id,
            "origin": origin,
            "ip": window.ip,
            "channel": window.channel,
            "count": window.count,
            "first_at": window.first_at,
            "last_at": window.last_at,
            "service": self.bus.service,
        }
        log_line(record)
        task = asyncio.ensure_future(self._publish(record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, record: dict[str, Any]) -> None:
        subject = self.bus.subjects.audit(record["workspace_id"], "refused")
        try:
            if not self.bus.connected:
                raise ConnectionError("NATS is not connected")
            await self.bus.publish_durable(subject, record, msg_id=f"audit:{record['id']}")
        except Exception as exc:  # noqa: BLE001 - the log line above still has the record
            AUDIT_RECORDS.labels("failed").inc()
            log.warning("audit record not published: %r", exc)
        else:
            AUDIT_RECORDS.labels("published").inc()


_reporters: weakref.WeakKeyDictionary[Bus, RefusalReporter] = weakref.WeakKeyDictionary()


def reporter(bus: Bus) -> RefusalReporter:
    """The process's reporter for this bus (one per bus, so per service app)."""
    found = _reporters.get(bus)
    if found is None:
        found = _reporters[bus] = RefusalReporter(bus)
    return found


def refused(
    bus: Bus,
    workspace_id: str,
    reason: str,
    *,
    origin: str | None = None,
    ip: str | None = None,
    channel: str | None = None,
) -> None:
    """Report a refusal at the edge (`reason` is one of `REASONS`); aggregated, non-blocking."""
    try:
        reporter(bus).refused(workspace_id, reason, origin=origin, ip=ip, channel=channel)
    except Exception as exc:  # noqa: BLE001 - auditing must never turn a 403 into a 500
        log.warning("audit refusal not recorded: %r", exc)


__all__ = ["REASONS", "RefusalReporter", "log_line", "refused", "reporter"]

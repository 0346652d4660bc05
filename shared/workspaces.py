"""Workspaces (one per site using Parley): keys, allowed origins, verification policy.

They live in a JetStream key-value bucket: the dashboard writes them (settings,
key rotation); every service keeps a live in-memory copy through a watch, so the
stateless gateway authenticates a write key without a database or a round trip.

Rotating a key keeps the one it replaces working for a grace period the admin
chooses (a `RetiredKey` with an absolute expiry), so deployed snippets and backends
can move to the new key without a cliff. Expiry is checked at each look-up.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError

from shared import tasks
from shared.bus import Bus
from shared.security import constant_time_equals, verify_user_hash
from shared.settings import DEFAULT_INGEST_RATE, Settings

log = logging.getLogger("parley.workspaces")

DEFAULT_WORKSPACE_ID = "default"
KEY_KINDS = ("write_key", "secret_key", "identity_secret")
DEFAULT_GRACE_SECONDS = 24 * 3600
MAX_GRACE_SECONDS = 30 * 86400
ROUTING_MODES = ("off", "round_robin", "least_busy")
DEFAULT_CAPACITY = 5
# rotating again while older keys are in their grace keeps at most this many per kind
MAX_RETIRED_PER_KIND = 3
# an identity token may live at most this long (exp - iat), unless the admin sets less
DEFAULT_TOKEN_LIFETIME = 24 * 3600
MAX_RETENTION_DAYS = 36500  # the settings form's upper bound: a hundred years


@dataclass(frozen=True)
class RetiredKey:
    """A key replaced by a rotation, still accepted until `expires_at` (Unix seconds)."""

    kind: str
    value: str
    expires_at: float

    @property
    def id(self) -> str:
        """A name for the revoke form that does not reveal the key."""
        return hashlib.sha256(f"{self.kind}:{self.value}".encode()).hexdigest()[:12]

    def live(self, now: float) -> bool:
        return now < self.expires_at


@dataclass
class Workspace:
    id: str
    name: str
    write_key: str
    secret_key: str
    identity_secret: str
    allowed_origins: list[str] = field(default_factory=list)
    enforce_identity_verification: bool = False
    ingest_rate_per_second: int = DEFAULT_INGEST_RATE
    away_message: str = "We're away right now. Leave your email and we'll reply by email."
    business_hours: dict[str, Any] = field(default_factory=dict)
    seeded_from: str = ""
    retired_keys: list[RetiredKey] = field(default_factory=list)
    # presence and routing (services/chat/routing.py): agents who set themselves Away,
    # minutes an Available agent stays available with no dashboard open (0: at once),
    # how new conversations are assigned, and each agent's most open conversations
    away_agents: list[str] = field(default_factory=list)
    auto_away_minutes: int = 0
    routing: str = "off"
    agent_capacity: dict[str, int] = field(default_factory=dict)
    # identity tokens (shared/identity_token.py): HS256 with the identity secret always;
    # RS256/ES256 with this PEM public key or the keys at this JWKS URL when set
    identity_public_key: str = ""
    identity_jwks_url: str = ""
    identity_token_max_lifetime: int = DEFAULT_TOKEN_LIFETIME
    # the widget's look and words (shared/messenger.py): greeting, launcher colour and
    # side, per-language overrides of its strings ({"fr": {"greeting": "..."}})
    greeting: str = ""
    launcher_color: str = "#1f5fd6"
    launcher_position: str = "right"
    widget_strings: dict[str, dict[str, str]] = field(default_factory=dict)
    # retention (docs/identity.md, "Retention"): events older than this many days, and
    # resolved conversations with no activity for this many, are swept by their
    # service (identity, chat) every PARLEY_RETENTION_SWEEP_S; 0 keeps them forever
    retention_events_days: int = 0
    retention_conversations_days: int = 0

    def capacity_of(self, agent_id: str) -> int:
        return self.agent_capacity.get(agent_id, DEFAULT_CAPACITY)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Workspace:
        raw = json.loads(data)
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        known["retired_keys"] = [RetiredKey(**r) for r in known.get("retired_keys") or []]
        return cls(**known)

    # --- keys: the current one, plus retired ones within their grace -----------------
    def keys_of(self, kind: str, now: float | None = None) -> list[str]:
        """The accepted values of one kind of key, current first."""
        at = time.time() if now is None else now
        retired = [r.value for r in self.retired_keys if r.kind == kind and r.live(at)]
        return [getattr(self, kind), *retired]

    def accepts(self, kind: str, given: str, now: float | None = None) -> bool:
        """Constant-time comparison with every accepted key (no early exit on a match)."""
        found = False
        for value in self.keys_of(kind, now):
            found = constant_time_equals(value, given) or found
        return found

    def verify_user_hash(self, user_id: str, given: str | None) -> bool:
        """`user_hash` signed with the current identity secret or one in its grace."""
        found = False
        for secret in self.keys_of("identity_secret"):
            found = verify_user_hash(secret, user_id, given) or found
        return found

    def in_grace(self, now: float | None = None) -> list[RetiredKey]:
        at = time.time() if now is None else now
        return sorted(
            (r for r in self.retired_keys if r.live(at)), key=lambda r: (r.kind, r.expires_at)
        )

    def rotated(
        self, kind: str, fresh: str, grace_seconds: float, now: float | None = None
    ) -> Workspace:
        """A copy with `fresh` as the key; the replaced one works `grace_seconds` more."""
        if kind not in KEY_KINDS:
            raise ValueError(f"unknown key kind {kind!r}")
        at = time.time() if now is None else now
        grace = max(0.0, min(float(grace_seconds), MAX_GRACE_SECONDS))
        retired = self.in_grace(at)
        if grace > 0:
            retired.append(RetiredKey(kind, getattr(self, kind), at + grace))
            same = [r for r in retired if r.kind == kind]
            for old in sorted(same, key=lambda r: r.expires_at)[:-MAX_RETIRED_PER_KIND]:
                retired.remove(old)
        changes: dict[str, Any] = {kind: fresh, "retired_keys": retired}
        return replace(self, **changes)

    def revoked(self, retired_id: str, now: float | None = None) -> Workspace:
        """A copy where the retired key `retired_id` no longer works (expired ones go too)."""
        kept = [r for r in self.in_grace(now) if r.id != retired_id]
        return replace(self, retired_keys=kept)

    def origin_allowed(self, origin: str | None) -> bool:
        """An empty allow-list admits any origin (set one in production: the README says so)."""
        if not self.allowed_origins:
            return True
        return origin is not None and origin.rstrip("/") in {
            o.rstrip("/") for o in self.allowed_origins
        }


def new_keys() -> dict[str, str]:
    return {
        "write_key": "wk_" + secrets.token_urlsafe(18),
        "secret_key": "sk_" + secrets.token_urlsafe(24),
        "identity_secret": secrets.token_urlsafe(24),
    }


# the default workspace's fields that settings (environment or secrets.json) seed
SEEDED_FIELDS = (
    "write_key",
    "secret_key",
    "identity_secret",
    "allowed_origins",
    "enforce_identity_verification",
    "ingest_rate_per_second",
)


def _seed_values(settings: Settings) -> dict[str, Any]:
    return {
        "write_key": settings.write_key,
        "secret_key": settings.secret_key,
        "identity_secret": settings.identity_secret,
        "allowed_origins": list(settings.allowed_origins),
        "enforce_identity_verification": settings.enforce_identity_verification,
        "ingest_rate_per_second": settings.ingest_rate_per_second,
    }


def _legacy_fingerprint(settings: Settings) -> str:
    """What `seeded_from` held before it was kept per field."""
    raw = "|".join(
        (
            settings.write_key,
            settings.secret_key,
            settings.identity_secret,
            ",".join(settings.allowed_origins),
            str(settings.enforce_identity_verification),
        )
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _seed_marks(settings: Settings) -> dict[str, str]:
    return {
        name: hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16]
        for name, value in _seed_values(settings).items()
    }


def _marks_of(workspace: Workspace, settings: Settings) -> dict[str, str]:
    """The per-field marks a workspace was last seeded with ({} = unknown: seed them all)."""
    try:
        marks = json.loads(workspace.seeded_from)
    except ValueError:
        marks = None
    if isinstance(marks, dict):
        return marks
    if workspace.seeded_from == _legacy_fingerprint(settings):
        marks = _seed_marks(settings)
        marks.pop("ingest_rate_per_second")  # not in the fingerprint: seed it
        return marks
    return {}


class WorkspaceRegistry:
    """A watched, in-memory view of the workspaces bucket."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._by_id: dict[str, Workspace] = {}
        self._kv: Any = None
        self._watch_task: asyncio.Task[None] | None = None
        self._loaded = asyncio.Event()

    async def start(self) -> None:
        js = self.bus.js
        assert js is not None
        bucket = self.bus.subjects.workspaces_bucket
        try:
            self._kv = await js.key_value(bucket)
        except BucketNotFoundError:
            self._kv = await js.create_key_value(bucket=bucket, history=5)
        self._watch_task = asyncio.create_task(self._watch())
        await asyncio.wait_for(self._loaded.wait(), 10)

    async def stop(self) -> None:
        if self._watch_task:
            await tasks.stop(self._watch_task)

    async def _watch(self) -> None:
        while True:
            try:
                watcher = await self._kv.watchall()
                async for entry in watcher:
                    if entry is None:  # initial values delivered
                        self._loaded.set()
                        continue
                    if entry.operation in ("DEL", "PURGE") or not entry.value:
                        self._by_id.pop(entry.key, None)
                    else:
                        self._by_id[entry.key] = Workspace.from_json(entry.value)
                    self._loaded.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS restarting: watch again
                log.warning("workspace watch interrupted: %s", exc)
                await asyncio.sleep(1)

    # --- look-ups (constant-time key comparison, never a dict keyed by secrets) -------
    def get(self, workspace_id: str) -> Workspace | None:
        return self._by_id.get(workspace_id)

    def all(self) -> list[Workspace]:
        return list(self._by_id.values())

    def by_write_key(self, key: str) -> Workspace | None:
        """The workspace whose write key (current, or retired within its grace) this is."""
        return self._by_key("write_key", key)

    def by_secret_key(self, key: str) -> Workspace | None:
        return self._by_key("secret_key", key)

    def _by_key(self, kind: str, key: str) -> Workspace | None:
        found = None
        now = time.time()
        for ws in self._by_id.values():
            if ws.accepts(kind, key, now):
                found = ws
        return found

    # --- writes (the dashboard's job, plus the default workspace at start) -------------
    async def put(self, workspace: Workspace) -> None:
        await self._kv.put(workspace.id, workspace.to_json())
        self._by_id[workspace.id] = workspace

    async def update(
        self, workspace_id: str, change: Callable[[Workspace], Workspace]
    ) -> Workspace | None:
        """Apply `change` to the stored workspace with compare-and-set, retrying when
        another writer got there first (two agents toggling presence at once lose
        neither toggle); None when the workspace does not exist."""
        while True:
            try:
                entry = await self._kv.get(workspace_id)
            except KeyNotFoundError:
                return None
            changed = change(Workspace.from_json(entry.value))
            try:
                await self._kv.update(workspace_id, changed.to_json(), last=entry.revision)
            except KeyWrongLastSequenceError:
                continue
            self._by_id[workspace_id] = changed
            return changed

    async def ensure_default(self, settings: Settings) -> Workspace:
        """Create the default workspace from settings; later, apply only the settings that changed.

        Each seeded field is re-applied only when its own setting changed since the last
        seed, so a key rotated in the dashboard stays rotated when, say, the allowed
        origins change: the (revoked) key still in secrets.json is never brought back.
        """
        marks = _seed_marks(settings)
        seeded_from = json.dumps(marks, sort_keys=True)
        while True:
            try:
                entry = await self._kv.get(DEFAULT_WORKSPACE_ID)
            except KeyNotFoundError:
                entry = None
            if entry is None:
                ws = Workspace(
                    id=DEFAULT_WORKSPACE_ID, name="Default workspace", **_seed_values(settings)
                )
            else:
                ws = Workspace.from_json(entry.value)
                if ws.seeded_from == seeded_from:
                    self._by_id[ws.id] = ws
                    return ws
                before, values = _marks_of(ws, settings), _seed_values(settings)
                for name in SEEDED_FIELDS:
                    if before.get(name) != marks[name]:
                        setattr(ws, name, values[name])
            ws.seeded_from = seeded_from
            try:
                if entry is None:
                    await self._kv.create(ws.id, ws.to_json())
                else:
                    await self._kv.update(ws.id, ws.to_json(), last=entry.revision)
            except KeyWrongLastSequenceError:
                continue  # another service (or a rotation) wrote it meanwhile: look again
            self._by_id[ws.id] = ws
            return ws

"""Workspace settings (admins): keys and rotation, widget policy, hours, routing and
presence, canned replies."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from services.dashboard import audit, hours, keys
from services.dashboard.ask import ask
from services.dashboard.auth import require_admin, workspace_id
from services.dashboard.directory import labels_of
from services.dashboard.render import render
from services.dashboard.store import Conflict
from services.dashboard.views import messenger
from services.dashboard.views.labels import COLOUR_NAMES
from shared.errors import BusError
from shared.identity_token import check_jwks_url, read_public_key
from shared.snippet import install_snippet
from shared.web import SETTINGS, WORKSPACES
from shared.workspaces import (
    DEFAULT_GRACE_SECONDS,
    MAX_RETENTION_DAYS,
    ROUTING_MODES,
    Workspace,
    new_keys,
)

KEY_NAMES = {
    "write_key": "Write key",
    "secret_key": "Secret key",
    "identity_secret": "Identity verification secret",
}
# how long the replaced key keeps working after a rotation (seconds -> label)
GRACE_CHOICES = {
    0: "Revoke the old key now",
    3600: "Keep the old key 1 hour",
    DEFAULT_GRACE_SECONDS: "Keep the old key 24 hours",
    7 * 86400: "Keep the old key 7 days",
}
MAX_ORIGINS = 50
MAX_AWAY = 500
MAX_CANNED_TEXT = 2000
MAX_INGEST_RATE = 1_000_000
_SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def the_workspace(request: web.Request) -> Workspace:
    ws = request.app[WORKSPACES].get(workspace_id(request))
    if ws is None:
        raise web.HTTPServiceUnavailable(text="The workspace registry is not loaded yet.\n")
    return ws


def parse_origins(text: str) -> list[str]:
    origins: list[str] = []
    for line in text.replace(",", "\n").splitlines():
        value = line.strip().rstrip("/")
        if not value:
            continue
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            raise ValueError(f"{value!r} is not an origin like https://www.example.com")
        origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
    if len(origins) > MAX_ORIGINS:
        raise ValueError(f"At most {MAX_ORIGINS} origins.")
    return sorted(set(origins))


def in_grace_rows(ws: Workspace) -> list[dict[str, Any]]:
    """The retired keys still accepted, for the keys card (with their expiry)."""
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "label": KEY_NAMES[r.kind],
            "value": r.value,
            "expires": datetime.fromtimestamp(r.expires_at, UTC),
        }
        for r in ws.in_grace()
        if r.kind in KEY_NAMES
    ]


async def page(
    request: web.Request, errors: dict[str, str] | None = None, status: int = 200
) -> web.Response:
    require_admin(request)
    ws = the_workspace(request)
    flash = request.query.get("saved")
    return render(
        request,
        "settings.html",
        {
            "active": "settings",
            "workspace": ws,
            "key_names": KEY_NAMES,
            "grace_choices": GRACE_CHOICES,
            "default_grace": DEFAULT_GRACE_SECONDS,
            "in_grace": in_grace_rows(ws),
            "snippet": install_snippet(request.app[SETTINGS].public_url, ws.write_key),
            "canned": await request.app[keys.STORE].canned_replies(ws.id),
            "labels": await labels_of(request.app, ws.id),
            "colours": COLOUR_NAMES,
            "days": hours.DAY_NAMES,
            "hours": ws.business_hours or {},
            "errors": errors or {},
            "saved": flash
            if flash
            in ("keys", "widget", "messenger", "ingest", "routing", "canned", "labels", "retention")
            else None,
            "retention_sweep": _every(request.app[SETTINGS].retention_sweep_s),
            "messenger": messenger.context(ws),
            "routing_labels": ROUTING_LABELS,
            "refused_origins": await request.app[keys.STORE].refused_origins(ws.id),
            "webhooks_off": await webhooks_turned_off(request.app, ws.id),
        },
        status=status,
    )


async def webhooks_turned_off(app: web.Application, ws: str) -> list[dict[str, Any]]:
    """Endpoints the webhooks service turned off after failures: a banner on the page
    (nothing when the service does not answer; its own page says so)."""
    try:
        found = await ask(app, "webhooks", "endpoints.list", {"workspace_id": ws}, timeout=1.0)
    except BusError:
        return []
    return [w for w in found.get("webhooks", []) if w.get("disabled_reason")]


async def settings_page(request: web.Request) -> web.Response:
    return await page(request)


def grace_of(form: Any) -> int:
    """The grace the admin chose; none given means the default (24 h), never a cliff."""
    raw = form.get("grace")
    if raw in (None, ""):
        return DEFAULT_GRACE_SECONDS
    try:
        grace = int(str(raw))
    except ValueError:
        grace = -1
    if grace not in GRACE_CHOICES:
        raise web.HTTPBadRequest(text="Unknown grace period.\n")
    return grace


async def rotate_key(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    form = await request.post()
    which = form.get("key")
    if which not in KEY_NAMES:
        raise web.HTTPBadRequest(text="Unknown key.\n")
    grace = grace_of(form)
    ws = the_workspace(request)
    fresh = new_keys()[str(which)]
    await request.app[WORKSPACES].put(ws.rotated(str(which), fresh, grace))
    await audit.record(request, "key.rotated", key=str(which), grace_seconds=grace)
    raise web.HTTPSeeOther("/settings?saved=keys#keys")


async def revoke_key(request: web.Request) -> web.StreamResponse:
    """Stop a key that is in its grace period now, instead of at its expiry."""
    require_admin(request)
    form = await request.post()
    ws = the_workspace(request)
    retired_id = str(form.get("retired", ""))
    if not any(r.id == retired_id for r in ws.in_grace()):
        raise web.HTTPBadRequest(text="That key is not in a grace period.\n")
    await request.app[WORKSPACES].put(ws.revoked(retired_id))
    await audit.record(request, "key.revoked", retired=retired_id)
    raise web.HTTPSeeOther("/settings?saved=keys#keys")


async def save_widget(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    form = await request.post()
    ws = the_workspace(request)
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}
    try:
        changes["allowed_origins"] = parse_origins(str(form.get("allowed_origins", "")))
    except ValueError as exc:
        errors["allowed_origins"] = str(exc)
    changes["enforce_identity_verification"] = form.get("enforce_identity_verification") == "on"
    token_keys(request, form, changes, errors)
    away = str(form.get("away_message", "")).strip()
    if len(away) > MAX_AWAY:
        errors["away_message"] = f"At most {MAX_AWAY} characters."
    changes["away_message"] = away
    try:
        changes["business_hours"] = hours.parse_form(form)
    except hours.Invalid as exc:
        errors["business_hours"] = str(exc)
    if errors:
        return await page(request, errors, status=400)
    await request.app[WORKSPACES].put(dataclasses.replace(ws, **changes))
    if changed := audit.changed_fields(ws, changes):
        await audit.record(request, "settings.changed", fields=changed)
    raise web.HTTPSeeOther("/settings?saved=widget#widget")


def token_keys(
    request: web.Request, form: Any, changes: dict[str, Any], errors: dict[str, str]
) -> None:
    """The identity-token keys (shared/identity_token.py): a PEM, a JWKS URL, a lifetime."""
    pem = str(form.get("identity_public_key", "")).strip()
    if pem:
        try:
            read_public_key(pem)
        except ValueError as exc:
            errors["identity_public_key"] = str(exc)
    changes["identity_public_key"] = pem
    url = str(form.get("identity_jwks_url", "")).strip()
    if url:
        try:
            check_jwks_url(url, request.app[SETTINGS].jwks_allow_http_loopback)
        except ValueError as exc:
            errors["identity_jwks_url"] = str(exc)
        if len(url) > 500:
            errors["identity_jwks_url"] = "At most 500 characters."
    changes["identity_jwks_url"] = url
    try:
        minutes = whole_number(str(form.get("token_lifetime_minutes", "1440")), 1, 10080, "minutes")
        changes["identity_token_max_lifetime"] = minutes * 60
    except ValueError as exc:
        errors["token_lifetime_minutes"] = str(exc)


def whole_number(raw: str, low: int, high: int, unit: str) -> int:
    """A whole number of `unit` from low to high; ValueError with the message to show."""
    try:
        value = int(raw.strip().replace(",", "").replace("_", ""))
    except ValueError:
        raise ValueError(f"A whole number of {unit}.") from None
    if not low <= value <= high:
        raise ValueError(f"Between {low:,} and {high:,} {unit}.")
    return value


def parse_rate(raw: str) -> int:
    """Events a second, 1 to MAX_INGEST_RATE; ValueError with the message to show."""
    return whole_number(raw, 1, MAX_INGEST_RATE, "events a second")


async def save_ingest(request: web.Request) -> web.StreamResponse:
    """The workspace's ingest limit; every gateway applies it at its next request."""
    require_admin(request)
    form = await request.post()
    ws = the_workspace(request)
    try:
        rate = parse_rate(str(form.get("ingest_rate_per_second", "")))
    except ValueError as exc:
        return await page(request, {"ingest_rate_per_second": str(exc)}, status=400)
    changes: dict[str, Any] = {"ingest_rate_per_second": rate}
    await request.app[WORKSPACES].put(dataclasses.replace(ws, **changes))
    if changed := audit.changed_fields(ws, changes):
        await audit.record(request, "settings.changed", fields=changed)
    raise web.HTTPSeeOther("/settings?saved=ingest#ingest")


async def add_canned(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    form = await request.post()
    shortcut = str(form.get("shortcut", "")).strip().lstrip("/").lower()
    text = str(form.get("text", "")).strip()
    error = None
    if not _SHORTCUT.match(shortcut):
        error = "A shortcut is 1-40 letters, digits, - or _."
    elif not text or len(text) > MAX_CANNED_TEXT:
        error = f"A canned reply has 1 to {MAX_CANNED_TEXT} characters."
    else:
        try:
            await request.app[keys.STORE].add_canned_reply(workspace_id(request), shortcut, text)
        except Conflict as exc:
            error = str(exc)
    if error:
        return await page(request, {"canned": error}, status=400)
    await audit.record(request, "settings.changed", fields=["canned_replies"], added=shortcut)
    raise web.HTTPSeeOther("/settings?saved=canned#canned")


async def delete_canned(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    await request.app[keys.STORE].delete_canned_reply(
        workspace_id(request), request.match_info["id"]
    )
    await audit.record(request, "settings.changed", fields=["canned_replies"])
    raise web.HTTPSeeOther("/settings?saved=canned#canned")


ROUTING_LABELS = {
    "off": "Off: agents take conversations by hand",
    "round_robin": "Round robin: each available agent in turn",
    "least_busy": "Least busy: the available agent holding fewest",
}
MAX_AUTO_AWAY_MINUTES = 24 * 60


def parse_auto_away(raw: str) -> int:
    return whole_number(raw or "0", 0, MAX_AUTO_AWAY_MINUTES, "minutes")


async def save_routing(request: web.Request) -> web.StreamResponse:
    """How new conversations are assigned, and when an agent with no dashboard goes Away;
    every chat replica applies them at its next tick."""
    require_admin(request)
    form = await request.post()
    mode = str(form.get("routing", ""))
    if mode not in ROUTING_MODES:
        return await page(request, {"routing": "Choose a routing mode."}, status=400)
    try:
        minutes = parse_auto_away(str(form.get("auto_away_minutes", "")))
    except ValueError as exc:
        return await page(request, {"auto_away_minutes": str(exc)}, status=400)
    changes: dict[str, Any] = {"routing": mode, "auto_away_minutes": minutes}
    ws = the_workspace(request)
    await request.app[WORKSPACES].update(ws.id, lambda w: dataclasses.replace(w, **changes))
    if changed := audit.changed_fields(ws, changes):
        await audit.record(request, "settings.changed", fields=changed)
    raise web.HTTPSeeOther("/settings?saved=routing#routing")


def _every(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours_ = int(seconds // 3600)
        return f"{hours_} hour{'s' if hours_ != 1 else ''}"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} minutes"
    return f"{seconds:g} seconds"


def parse_retention(raw: str) -> int:
    """Days, 0 (keep forever) to MAX_RETENTION_DAYS; ValueError with the message to show."""
    return whole_number(raw or "0", 0, MAX_RETENTION_DAYS, "days (0: keep forever)")


async def save_retention(request: web.Request) -> web.StreamResponse:
    """How long events and resolved conversations are kept; identity and chat read it at
    their next sweep (services/identity/retention.py, services/chat/retention.py)."""
    require_admin(request)
    form = await request.post()
    changes: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in ("retention_events_days", "retention_conversations_days"):
        try:
            changes[name] = parse_retention(str(form.get(name, "")))
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        return await page(request, errors, status=400)
    ws = the_workspace(request)
    await request.app[WORKSPACES].update(ws.id, lambda w: dataclasses.replace(w, **changes))
    if changed := audit.changed_fields(ws, changes):
        await audit.record(request, "settings.changed", fields=changed)
    raise web.HTTPSeeOther("/settings?saved=retention#retention")


def setup(app: web.Application) -> None:
    app.router.add_get("/settings", settings_page)
    app.router.add_post("/settings/keys", rotate_key)
    app.router.add_post("/settings/keys/revoke", revoke_key)
    app.router.add_post("/settings/widget", save_widget)
    app.router.add_post("/settings/messenger", messenger.save_messenger)
    app.router.add_post("/settings/ingest", save_ingest)
    app.router.add_post("/settings/routing", save_routing)
    app.router.add_post("/settings/retention", save_retention)
    app.router.add_post("/settings/canned", add_canned)
    app.router.add_post("/settings/canned/{id}/delete", delete_canned)

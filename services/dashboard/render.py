"""Jinja2 rendering with autoescape always on, plus the filters the templates share."""

from __future__ import annotations

import contextvars
import hashlib
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from markupsafe import Markup

from services.dashboard import avatars, keys, ua, workspaces
from services.dashboard.people import fallback_person
from services.dashboard.store import notify_settings
from services.dashboard.store.profile import DEFAULT_ZONE, zone_of
from shared import clock
from shared.events import parse_time
from shared.web import WORKSPACES
from shared.workspaces import Workspace

# package data: an installed wheel renders and serves the same files as a source checkout
STATIC = resources.files("services.dashboard") / "static"
STAGES = {"visitor": "Visitor", "contact": "Contact", "member": "Member"}
# the zone of the agent whose page is rendering (set around each render: rendering is
# synchronous, and macros imported without context still see it); UTC for live rows
_ZONE: contextvars.ContextVar[ZoneInfo | None] = contextvars.ContextVar("zone", default=None)
_UTC = ZoneInfo(DEFAULT_ZONE)


def as_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_time(value)


def ago(value: Any) -> str:
    """'just now', '5m', '3h', '2d' or a date: compact like every inbox shows it."""
    when = as_time(value)
    if when is None:
        return ""
    seconds = (datetime.now(UTC) - when).total_seconds()
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))}m"
    if seconds < 86400:
        return f"{round(seconds / 3600)}h"
    if seconds < 7 * 86400:
        return f"{round(seconds / 86400)}d"
    return when.astimezone(_ZONE.get() or _UTC).strftime("%d %b %Y")


def iso(value: Any) -> str:
    when = as_time(value)
    return clock.iso(when) if when else ""


def when(value: Any) -> str:
    """A full date and time for tooltips and the sidebar, in the agent's zone."""
    moment = as_time(value)
    return moment.astimezone(_ZONE.get() or _UTC).strftime("%d %b %Y, %H:%M %Z") if moment else ""


def clock_time(value: Any) -> str:
    """'10:42': an activity line's time in the thread, in the agent's zone."""
    moment = as_time(value)
    return moment.astimezone(_ZONE.get() or _UTC).strftime("%H:%M") if moment else ""


def stage_label(stage: Any) -> str:
    return STAGES.get(str(stage or "visitor"), "Visitor")


def initials(text: Any) -> str:
    words = str(text or "").replace("@", " ").replace(".", " ").split()
    letters = [next((ch for ch in w if ch.isalnum()), "") for w in words]
    return "".join(ch for ch in letters if ch)[:2].upper() or "?"


def person_label(profile: dict[str, Any] | None, fallback: str = "Anonymous visitor") -> str:
    if not profile:
        return fallback
    return str(profile.get("name") or profile.get("email") or profile.get("user_id") or fallback)


_ICONS = {
    "inbox": '<path d="M3 13h4l2 3h6l2-3h4"/><path d="M5 5h14l2 8v6H3v-6z"/>',
    "users": '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20c.8-3.6 3.4-5.5 6.5-5.5s5.7 1.9 6.5 5.5"/>'
    '<path d="M16 4.5a3.5 3.5 0 0 1 0 7M18 14.8c1.9.8 3 2.5 3.5 5.2"/>',
    "team": '<circle cx="12" cy="7.5" r="3.5"/><path d="M5 20c.9-4 3.7-6 7-6s6.1 2 7 6"/>',
    "settings": '<circle cx="12" cy="12" r="3"/><path d="M12 2.5v3M12 18.5v3M2.5 12h3M18.5 12h3'
    'M5.3 5.3l2.1 2.1M16.6 16.6l2.1 2.1M5.3 18.7l2.1-2.1M16.6 7.4l2.1-2.1"/>',
    "audit": '<path d="M7 3.5h10l2.5 2.5v14.5h-15V3.5z"/><path d="M8.5 9h7M8.5 12.5h7M8.5 16h4"/>',
}


def icon(name: str) -> Markup:
    """An inline stroke icon (our own constant markup, never data)."""
    return Markup(  # noqa: S704 - constant SVG paths defined above
        '<svg class="icon" viewBox="0 0 24 24" width="20" height="20" fill="none" '
        'stroke="currentColor" stroke-width="1.8" stroke-linecap="round" '
        f'stroke-linejoin="round" aria-hidden="true">{_ICONS[name]}</svg>'
    )


class Renderer:
    def __init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("services.dashboard", "templates"),
            autoescape=True,  # everything a visitor typed is text, in every template
            # data from other services may lack a field: render it empty, never fail the page
            undefined=jinja2.ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(static=self.static, icon=icon)
        self._versions: dict[str, str] = {}
        self.env.filters.update(
            ago=ago,
            iso=iso,
            stage_label=stage_label,
            initials=initials,
            avatar_url=avatars.url_of,
            person=person_label,
            browser=ua.describe,
            when=when,
            clock=clock_time,
        )

    def static(self, name: str) -> str:
        """A cache-busting URL: the file's content hash changes when the file does."""
        if name not in self._versions:
            data = (STATIC / name).read_bytes()
            self._versions[name] = hashlib.sha256(data).hexdigest()[:12]
        return f"/static/{name}?v={self._versions[name]}"

    def row(
        self,
        conversation: dict[str, Any],
        person: dict[str, Any] | None,
        names: dict[str, Any] | None = None,
    ) -> str:
        """One inbox row, from the one macro the inbox page renders its rows with too:
        live updates carry it and live.js inserts it, so a live row is the same row.
        `names`: services/dashboard/directory.py (labels and agents by id)."""
        macros = self.env.get_template("_macros.html").module
        person = person or fallback_person(conversation)
        return str(macros.row(conversation, person, names or {}))  # type: ignore[attr-defined]

    @staticmethod
    def _workspace_of(request: web.Request, agent: dict[str, Any]) -> Workspace | None:
        registry = request.app.get(WORKSPACES)
        return registry.get(agent.get("workspace_id") or "default") if registry else None

    def render(
        self, request: web.Request, name: str, context: dict[str, Any], status: int = 200
    ) -> web.Response:
        session = request.get(keys.SESSION)
        agent = request.get(keys.AGENT)
        base = {
            "agent": agent,
            "notify": notify_settings(agent) if agent else None,
            "away": agent is not None and _away(self._workspace_of(request, agent), agent),
            "csrf": session["csrf"] if session else request.get(keys.LOGIN_CSRF, ""),
            "time_zone": zone_of(agent).key if agent else DEFAULT_ZONE,
            "path": request.path,
            "notices": [],
            "workspaces": workspaces.names(request, agent) if agent else [],
        }
        base.update(context)
        zone = _ZONE.set(zone_of(agent))
        try:
            html = self.env.get_template(name).render(base)
        finally:
            _ZONE.reset(zone)
        return web.Response(text=html, content_type="text/html", charset="utf-8", status=status)


def _away(workspace: Workspace | None, agent: dict[str, Any]) -> bool:
    return workspace is not None and agent["_id"] in workspace.away_agents


def render(
    request: web.Request, name: str, context: dict[str, Any] | None = None, status: int = 200
) -> web.Response:
    return request.app[keys.RENDERER].render(request, name, context or {}, status)

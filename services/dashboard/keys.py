"""Typed application keys of the dashboard (one place, never string keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from services.dashboard.agent_ws import AgentHub
    from services.dashboard.render import Renderer
    from services.dashboard.sessions import SessionCache
    from services.dashboard.store import Store
    from services.dashboard.throttle import LoginThrottle

STORE: web.AppKey[Store] = web.AppKey("dashboard_store")
RENDERER: web.AppKey[Renderer] = web.AppKey("dashboard_renderer")
HUB: web.AppKey[AgentHub] = web.AppKey("dashboard_hub")
THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("dashboard_throttle")
SESSIONS: web.AppKey[SessionCache] = web.AppKey("dashboard_sessions")

# per request, set by the session middleware
AGENT: web.RequestKey[dict] = web.RequestKey("agent", dict)
SESSION: web.RequestKey[dict] = web.RequestKey("session", dict)
LOGIN_CSRF: web.RequestKey[str] = web.RequestKey("login_csrf", str)
# the session's CSRF token, for a view that reads its form as a stream (auth.STREAMED_FORMS)
STREAMED_CSRF: web.RequestKey[str] = web.RequestKey("streamed_csrf", str)

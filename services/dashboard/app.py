"""The agents' dashboard (aiohttp + jinja2): sign-in, inbox, conversations, contacts, settings."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.dashboard import agent_ws, audit, debug_feed, keys, notify_targets
from services.dashboard.auth import headers_middleware, session_middleware
from services.dashboard.pages import error_pages_middleware
from services.dashboard.render import Renderer
from services.dashboard.sessions import SessionCache
from services.dashboard.store import INDEXES, Store
from services.dashboard.throttle import LoginThrottle
from services.dashboard.views import (
    api,
    avatar,
    contacts,
    conversation,
    inbox,
    labels,
    notifications,
    presence,
    profile,
    search,
    settings,
    signin,
    team,
)
from services.dashboard.views import audit as audit_views
from services.dashboard.views import data_rights as data_rights_views
from services.dashboard.views import deadletters as deadletter_views
from services.dashboard.views import debugger as debugger_views
from services.dashboard.views import mail as mail_views
from services.dashboard.views import password as password_views
from services.dashboard.views import suppressions as suppression_views
from services.dashboard.views import unmerge as unmerge_views
from services.dashboard.views import webhooks as webhook_views
from services.dashboard.views import workspaces as workspace_views
from shared.settings import Settings
from shared.web import DB, add_mongo, add_workspaces, create_base_app
from shared.workspaces import DEFAULT_WORKSPACE_ID

# aiohttp serves static files from a directory on disk: the installed package's own
STATIC = Path(__file__).resolve().parent / "static"


def create_app(config: Settings) -> web.Application:
    app = create_base_app("dashboard", config)
    # error pages inside the security headers, outside the session (a 404 for anyone)
    app.middlewares.extend([headers_middleware, error_pages_middleware, session_middleware])
    add_workspaces(app)
    add_mongo(app, indexes=INDEXES)
    app[keys.RENDERER] = Renderer()

    async def store_ctx(app: web.Application):
        store = Store(app[DB])
        await store.ensure_admin(config.admin_email, config.admin_password, DEFAULT_WORKSPACE_ID)
        app[keys.STORE] = store
        app[keys.SESSIONS] = SessionCache(store)
        app[keys.THROTTLE] = LoginThrottle(app[DB])
        yield

    app.cleanup_ctx.append(store_ctx)
    audit.setup(app)
    notify_targets.setup(app)
    agent_ws.setup(app)
    debug_feed.setup(app)
    every_view = (
        signin,
        inbox,
        conversation,
        api,
        contacts,
        settings,
        team,
        notifications,
        profile,
        avatar,
        presence,
        search,
        labels,
    )
    others = (
        audit_views,
        data_rights_views,
        deadletter_views,
        debugger_views,
        mail_views,
        password_views,
        suppression_views,
        unmerge_views,
        webhook_views,
        workspace_views,
    )
    for views in (*every_view, *others):
        views.setup(app)
    app.router.add_static("/static/", STATIC, append_version=True)
    return app

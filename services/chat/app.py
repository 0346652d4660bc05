"""The chat service: conversations and messages."""

from __future__ import annotations

from aiohttp import web

from shared.settings import Settings
from shared.web import add_mongo, add_workspaces, create_base_app


def create_app(settings: Settings) -> web.Application:
    app = create_base_app("chat", settings)
    add_workspaces(app)
    add_mongo(app, indexes={})
    return app

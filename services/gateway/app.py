"""The gateway app: stateless, so any number run behind a load balancer."""

from __future__ import annotations

from aiohttp import web

from services.gateway import (
    assets,
    identity_tokens,
    ingest,
    profiles_api,
    sdk_compat,
    suppressions_api,
    unsubscribe,
    webhooks_api,
)
from services.gateway.continue_link import views as continue_link
from services.gateway.visitor import ws as visitor_ws
from shared.settings import Settings
from shared.web import add_workspaces, create_base_app

# Segment's batch limit is 500 KB; gzip bodies are inflated and checked again in ingest.
MAX_BODY = 512 * 1024


def create_app(settings: Settings) -> web.Application:
    # ingest.read_json inflates gzip itself: aiohttp would log a corrupt or unknown
    # Content-Encoding as a server error (with a traceback) and answer it in plain text
    app = create_base_app("gateway", settings, client_max_size=MAX_BODY, auto_decompress=False)
    add_workspaces(app)
    identity_tokens.setup(app)
    suppressions_api.setup(app)
    assets.setup(app)
    ingest.setup(app)
    sdk_compat.setup(app)
    profiles_api.setup(app)
    webhooks_api.setup(app)
    visitor_ws.setup(app)
    unsubscribe.setup(app)
    continue_link.setup(app)
    return app

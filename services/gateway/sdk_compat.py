"""What analytics.js and RudderStack's JS SDK fetch besides events, so they boot at Parley.

- `GET /v1/projects/{writeKey}/settings`: analytics.js's settings (its `cdnURL` is the
  gateway). One integration, `Segment.io`, whose `apiHost` is this gateway's public URL:
  the SDK then posts its events here and loads no destination bundle; `metrics.sampleRate`
  0 keeps it from posting metrics at all.
- `POST /v1/m`: analytics.js's metrics, if a site turns them on: read and dropped.
- `GET /sourceConfig/`: RudderStack's source config (its `configUrl` is the gateway),
  the smallest one its `isValidSourceConfig` takes: no destinations, stats off.

The write key names the workspace (path, Basic username or `writeKey` query); a
browser's origin is checked as every write-key call is (api_auth.caller_for).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from services.gateway import ingest
from services.gateway.api_auth import ApiError, Caller, caller_for
from shared.settings import Settings
from shared.web import SETTINGS
from shared.workspaces import Workspace

MAX_METRICS_BYTES = 64 * 1024
SETTINGS_CACHE = "public, max-age=60"


def _api_host(settings: Settings) -> tuple[str, str]:
    """(protocol, host/v1) of the gateway as the operator published it (PARLEY_PUBLIC_URL)."""
    parts = urlsplit(settings.public_url)
    path = parts.path.rstrip("/")
    return parts.scheme or "https", f"{parts.netloc}{path}/v1"


def segment_settings(workspace: Workspace, settings: Settings) -> dict[str, Any]:
    """The settings document analytics.js boots from (its CDNSettings type)."""
    protocol, host = _api_host(settings)
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": workspace.write_key,
                "apiHost": host,
                "protocol": protocol,
                "addBundledMetadata": False,
                "unbundledIntegrations": [],
            }
        },
        "metrics": {"sampleRate": 0, "host": host},
        "remotePlugins": [],
        "enabledMiddleware": {},
        "middlewareSettings": {},
        "plan": {},
        "legacyVideoPluginsEnabled": False,
    }


def rudderstack_source(workspace: Workspace) -> dict[str, Any]:
    """The source config RudderStack's SDK validates: a source, its config, no destinations."""
    return {
        "isHosted": False,
        "source": {
            "id": f"parley-{workspace.id}",
            "name": workspace.name,
            "writeKey": workspace.write_key,
            "workspaceId": workspace.id,
            "enabled": True,
            "config": {
                "statsCollection": {"errors": {"enabled": False}, "metrics": {"enabled": False}}
            },
            "destinations": [],
        },
    }


def _caller(request: web.Request, key: str | None) -> Caller:
    caller = caller_for(request, {"writeKey": key})
    if caller.secret:  # never echo the secret key into a page's settings
        raise ApiError(401, "unauthorized", "use the write key here, not the secret key")
    return caller


def _json(request: web.Request, payload: dict[str, Any], cache: str) -> web.StreamResponse:
    response = web.json_response(payload, headers={"Cache-Control": cache})
    response.headers["Vary"] = "Origin"
    return ingest.cors(request, response)


async def project_settings(request: web.Request) -> web.StreamResponse:
    """`GET /v1/projects/{writeKey}/settings`."""
    try:
        caller = _caller(request, request.match_info["write_key"])
    except ApiError as exc:
        return ingest.cors(request, exc.response())
    document = segment_settings(caller.workspace, request.app[SETTINGS])
    return _json(request, document, SETTINGS_CACHE)


async def source_config(request: web.Request) -> web.StreamResponse:
    """`GET /sourceConfig/?writeKey=…` (also Basic auth, as the SDK sends both)."""
    try:
        query_key = request.query.get("writeKey")
        caller = _caller(request, query_key if isinstance(query_key, str) else None)
    except ApiError as exc:
        return ingest.cors(request, exc.response())
    return _json(request, rudderstack_source(caller.workspace), "no-store")


async def metrics(request: web.Request) -> web.StreamResponse:
    """`POST /v1/m`: accepted and dropped (Parley keeps no SDK telemetry)."""
    read = 0
    async for chunk in request.content.iter_chunked(16 * 1024):
        read += len(chunk)
        if read > MAX_METRICS_BYTES:
            break
    return ingest.cors(request, web.json_response({"success": True}))


def setup(app: web.Application) -> None:
    app.router.add_get("/v1/projects/{write_key}/settings", project_settings)
    app.router.add_route("OPTIONS", "/v1/projects/{write_key}/settings", ingest.preflight)
    for path in ("/sourceConfig/", "/sourceConfig"):
        app.router.add_get(path, source_config)
        app.router.add_route("OPTIONS", path, ingest.preflight)
    app.router.add_post("/v1/m", metrics)
    app.router.add_route("OPTIONS", "/v1/m", ingest.preflight)

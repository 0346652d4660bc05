"""Who is calling the HTTP API: workspace keys, browser or server, client IP, CDN geo."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from shared import audit
from shared.proxies import client_ip, from_trusted_proxy
from shared.web import BUS, WORKSPACES, json_error
from shared.workspaces import Workspace


@dataclass
class Caller:
    workspace: Workspace
    secret: bool  # authenticated with the secret key
    browser: bool  # an Origin header: a page's script (its IP and user agent describe a visitor)

    @property
    def trusted(self) -> bool:
        """Only the secret key makes a call trusted (docs/identity.md, "Who is trusted").

        The write key is public (every page's snippet has it), so a write-key call is
        a browser call whatever its headers: leaving out `Origin` proves nothing.
        """
        return self.secret


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers
        self.workspace_id: str | None = None  # when known: the event debugger shows it

    def response(self) -> web.Response:
        return json_error(self.status, self.code, self.message, **self.headers)


def basic_username(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):  # binascii.Error, or a non-ASCII header
        raise ApiError(401, "unauthorized", "malformed Basic credentials") from None
    return decoded.split(":", 1)[0] or None


def caller_for(request: web.Request, body: Any, *, secret_only: bool = False) -> Caller:
    """The workspace behind the key (Basic username, else the body's `writeKey`).

    Either key works in either place: server SDKs are configured with the secret
    key as their Segment "write key".
    """
    key = basic_username(request)
    if key is None and not secret_only and isinstance(body, dict):
        given = body.get("writeKey")
        key = given if isinstance(given, str) else None
    if not key or len(key) > 200:
        raise ApiError(401, "unauthorized", "give the workspace key as the Basic username")
    registry = request.app[WORKSPACES]
    origin = request.headers.get("Origin")
    workspace = registry.by_secret_key(key)
    if workspace is not None:
        return Caller(workspace, secret=True, browser=origin is not None)
    if secret_only:
        raise ApiError(401, "unauthorized", "unknown secret key")
    workspace = registry.by_write_key(key)
    if workspace is None:
        raise ApiError(401, "unauthorized", "unknown write key")
    if origin is not None and not workspace.origin_allowed(origin):
        audit.refused(
            request.app[BUS],
            workspace.id,
            "origin",
            origin=origin,
            ip=client_ip(request),
            channel="api",
        )
        refused = ApiError(403, "origin_not_allowed", "this origin may not use the write key")
        refused.workspace_id = workspace.id
        raise refused
    return Caller(workspace, secret=False, browser=origin is not None)


def cdn_geo(request: web.Request) -> dict[str, str] | None:
    """Country, region and city a CDN put in headers, believed only from a trusted proxy."""
    if not from_trusted_proxy(request):
        return None
    h = request.headers
    geo = {
        "country_code": h.get("CF-IPCountry") or h.get("CloudFront-Viewer-Country"),
        "region": h.get("CloudFront-Viewer-Country-Region"),
        "city": h.get("CloudFront-Viewer-City"),
    }
    clean = {k: v.strip()[:100] for k, v in geo.items() if isinstance(v, str) and v.strip()}
    return clean or None


def browser_context(request: web.Request) -> dict[str, Any]:
    """What the edge saw of a browser caller, for enrichment."""
    extra: dict[str, Any] = {}
    if ip := client_ip(request):
        extra["ip"] = ip
    if agent := request.headers.get("User-Agent"):
        extra["userAgent"] = agent[:512]
    if geo := cdn_geo(request):
        extra["geo"] = geo
    return extra

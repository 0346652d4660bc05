"""The widget's script, its loader snippet, and the demo site.

`/widget.js` is the readable sources under widget/ joined into one function at
start-up (no build step anyone has to run), served gzipped when the browser
accepts it, with an ETag so a return visit costs a 304.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

WIDGET_DIR = Path(__file__).resolve().parents[2] / "widget"
PARTS = ("lib/logic.js", "lib/store.js", "lib/conn.js", "lib/ui.js", "widget.js")
CSS = "lib/widget.css"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str


def _asset(body: bytes) -> Asset:
    return Asset(
        body, gzip.compress(body, 9, mtime=0), '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    )


def build_widget(root: Path = WIDGET_DIR) -> bytes:
    """One script: the parts share a function scope; `module` is undefined inside it."""
    css = (root / CSS).read_text()
    parts = "\n".join((root / part).read_text() for part in PARTS)
    return (
        "/* Parley widget: readable sources in widget/ of the Parley repository */\n"
        "(function (module) {\n'use strict';\n"
        f"var WIDGET_CSS = {json.dumps(css)};\n{parts}\n}})();\n"
    ).encode()


WIDGET = web.AppKey("widget_asset", Asset)


def _serve(request: web.Request, asset: Asset, content_type: str) -> web.Response:
    headers = {
        "Cache-Control": "public, max-age=300",
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers=headers)
    body = asset.body
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)


async def widget_js(request: web.Request) -> web.Response:
    return _serve(request, request.app[WIDGET], "application/javascript")


def setup(app: web.Application) -> None:
    from services.gateway.demo import views as demo

    app[WIDGET] = _asset(build_widget())
    app.router.add_get("/widget.js", widget_js)
    demo.setup(app)

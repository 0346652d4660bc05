"""The widget's script, its loader snippet, and the demo site.

`/widget.js` is the readable sources in this package's `widget/` folder joined into
one function and minified at start-up (no build step anyone has to run), served
gzipped when the browser accepts it, with an ETag so a return visit costs a 304.
The sources are package data, read through importlib.resources, so an installed
wheel serves the same bytes as a source checkout.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import rcssmin
import rjsmin
from aiohttp import web

WIDGET_DIR: Traversable = resources.files("services.gateway") / "widget"
PARTS = ("lib/logic.js", "lib/store.js", "lib/conn.js", "lib/ui.js", "widget.js")
CSS = "lib/widget.css"
BANNER = "/*! Parley widget: readable sources in services/gateway/widget/ */\n"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str


def _asset(body: bytes) -> Asset:
    return Asset(
        body, gzip.compress(body, 9, mtime=0), '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    )


def _read(root: Traversable, name: str) -> str:
    return root.joinpath(*name.split("/")).read_text(encoding="utf-8")


def join_widget(root: Traversable = WIDGET_DIR) -> str:
    """One script: the parts share a function scope; `module` is undefined inside it."""
    css = rcssmin.cssmin(_read(root, CSS))
    parts = "\n".join(_read(root, part) for part in PARTS)
    return (
        "(function (module) {\n'use strict';\n"
        f"var WIDGET_CSS = {json.dumps(css)};\n{parts}\n}})();\n"
    )


def build_widget(root: Traversable = WIDGET_DIR) -> bytes:
    """The served script: the joined sources without their comments and layout."""
    return (BANNER + rjsmin.jsmin(join_widget(root)) + "\n").encode()


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

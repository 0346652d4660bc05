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
PARTS = (
    "lib/logic.js",
    "lib/i18n.js",
    "lib/store.js",
    "lib/conn.js",
    "lib/ui.js",
    "lib/rating.js",
    "widget.js",
)
# the catalogues fetched lazily by a visitor whose language is not English
LANGS = ("fr", "de", "es", "pt")
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


def build_catalogue(lang: str, root: Traversable = WIDGET_DIR) -> bytes:
    """One language's strings, re-encoded compactly (and checked to be a JSON object)."""
    strings = json.loads(_read(root, f"lang/{lang}.json"))
    if not isinstance(strings, dict):
        raise ValueError(f"lang/{lang}.json is not an object")
    return json.dumps(strings, ensure_ascii=False, separators=(",", ":")).encode()


WIDGET = web.AppKey("widget_asset", Asset)
CATALOGUES = web.AppKey("widget_catalogues", dict[str, Asset])


def _serve(
    request: web.Request, asset: Asset, content_type: str, cors: bool = False
) -> web.Response:
    headers = {
        "Cache-Control": "public, max-age=300",
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if cors:  # public words, fetched by the widget from any host page
        headers["Access-Control-Allow-Origin"] = "*"
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers=headers)
    body = asset.body
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)


async def widget_js(request: web.Request) -> web.Response:
    return _serve(request, request.app[WIDGET], "application/javascript")


async def catalogue_json(request: web.Request) -> web.Response:
    asset = request.app[CATALOGUES].get(request.match_info["lang"])
    if asset is None:
        raise web.HTTPNotFound()
    return _serve(request, asset, "application/json", cors=True)


def setup(app: web.Application) -> None:
    from services.gateway.demo import views as demo

    app[WIDGET] = _asset(build_widget())
    app[CATALOGUES] = {lang: _asset(build_catalogue(lang)) for lang in LANGS}
    app.router.add_get("/widget.js", widget_js)
    app.router.add_get("/widget/lang/{lang}.json", catalogue_json)
    demo.setup(app)

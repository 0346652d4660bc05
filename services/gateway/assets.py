"""Widget assets and the demo site (filled in by the widget issue)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

WIDGET_DIR = Path(__file__).resolve().parents[2] / "widget"


async def widget_js(request: web.Request) -> web.Response:
    return web.Response(
        body=(WIDGET_DIR / "widget.js").read_bytes(),
        content_type="application/javascript",
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


async def demo_index(request: web.Request) -> web.Response:
    html = "<!doctype html><title>Parley demo</title><h1>Parley demo</h1>"
    return web.Response(text=html, content_type="text/html")


def setup(app: web.Application) -> None:
    app.router.add_get("/widget.js", widget_js)
    app.router.add_get("/demo/", demo_index)

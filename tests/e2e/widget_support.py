"""Helpers for the widget's browser tests: a host page on another origin, ids the widget holds."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from shared.bus import Bus
from shared.snippet import install_snippet
from tests.support import eventually


def host_page(snippet: str, before: str = "", after: str = "", copies: int = 1) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<style>* {{ font-size: 40px !important; color: red !important; }} button {{ display: none; }}</style>
</head><body><h1>A shop on another origin</h1>
<script>{before}</script>
{snippet * copies}
<script>{after}</script>
</body></html>"""


async def start_host(aiohttp_server, pages: dict[str, str]) -> TestServer:
    """A tiny site on its own port (so its own origin) that pastes the snippet."""

    async def page(request: web.Request) -> web.Response:
        html = pages.get(request.path)
        if html is None:
            raise web.HTTPNotFound()
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    return await aiohttp_server(app)


def snippet_for(gateway: TestServer, write_key: str) -> str:
    return install_snippet(str(gateway.make_url("")).rstrip("/"), write_key)


async def visitor_id_of(page: Any) -> str:
    raw = await page.evaluate("localStorage.getItem('parley_visitor')")
    return json.loads(raw)["visitor_id"]


async def conversation_id_of(bus: Bus, visitor_id: str) -> str:
    """The visitor's conversation, once chat stored it ("Sent" means durable, not yet stored)."""
    found: dict[str, str] = {}

    async def stored() -> bool:
        history = await bus.request(
            bus.subjects.request("chat", "history"),
            {"workspace_id": "default", "visitor_id": visitor_id},
        )
        found["id"] = history["conversation_id"]
        return found["id"] is not None

    await eventually(stored, timeout=10)
    return found["id"]

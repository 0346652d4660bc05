"""The visitor websocket (filled in by the widget issue)."""

from aiohttp import web


def setup(app: web.Application) -> None:
    pass

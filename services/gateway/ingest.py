"""Segment-compatible ingest API (filled in by the identity issue)."""

from aiohttp import web


def setup(app: web.Application) -> None:
    pass

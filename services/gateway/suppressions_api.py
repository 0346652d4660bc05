"""Suppressions at the gateway: the live book every ingest path checks, and its API.

GET    /v1/suppressions        -> {"suppressions": [...]}  newest first, with drop counts
GET    /v1/suppressions/{id}   -> one suppression
DELETE /v1/suppressions/{id}   -> {"lifted": true}: its ids' events are accepted again

The secret key as the Basic username; a suppression is made by
`DELETE /v1/profiles/{id}?suppress=true` (shared/suppressions.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from services.gateway.api_auth import ApiError, caller_for
from shared import suppressions
from shared.suppressions import SuppressionBook
from shared.web import BUS

SUPPRESSIONS = web.AppKey("suppressions", SuppressionBook)
MAX_ID = 64


def _guarded(handler):
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            caller = caller_for(request, None, secret_only=True)
            return web.json_response(await handler(request, caller.workspace.id))
        except ApiError as exc:
            return exc.response()

    return run


def _missing() -> ApiError:
    return ApiError(404, "not_found", "no such suppression")


async def list_all(request: web.Request, ws: str) -> Any:
    found = await suppressions.of_workspace(request.app[BUS], ws)
    return {"suppressions": [s.view() for s in found]}


async def get_one(request: web.Request, ws: str) -> Any:
    found = await suppressions.get(request.app[BUS], ws, request.match_info["sid"][:MAX_ID])
    if found is None:
        raise _missing()
    return found.view()


async def lift(request: web.Request, ws: str) -> Any:
    if not await suppressions.lift(request.app[BUS], ws, request.match_info["sid"][:MAX_ID]):
        raise _missing()
    return {"lifted": True}


async def _book_ctx(app: web.Application) -> AsyncIterator[None]:
    book = SuppressionBook(app[BUS])
    await book.start()
    app[SUPPRESSIONS] = book
    yield
    await book.stop()


def setup(app: web.Application) -> None:
    """After the bus (create_base_app): the book watches the bucket from the start."""
    app.cleanup_ctx.append(_book_ctx)
    app.router.add_get("/v1/suppressions", _guarded(list_all))
    app.router.add_get("/v1/suppressions/{sid}", _guarded(get_one))
    app.router.add_delete("/v1/suppressions/{sid}", _guarded(lift))

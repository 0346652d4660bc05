"""HTML pages for the dashboard's 403, 404 and 500 (the JSON API and /ws keep JSON)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from services.dashboard.auth import wants_json
from services.dashboard.render import render
from shared.errors import BusError

log = logging.getLogger("parley.dashboard")

TITLES = {
    403: "Not allowed",
    404: "Page not found",
    500: "Something went wrong",
    503: "Not available right now",
}
MESSAGES = {
    403: "You do not have access to this page.",
    404: "There is nothing at this address. It may have moved, or the link is wrong.",
    500: "The dashboard hit an error. It has been logged; try again.",
    503: "A service the dashboard needs is not answering. Try again in a moment.",
}


def error_page(request: web.Request, status: int, detail: str | None = None) -> web.Response:
    context = {"status": status, "title": TITLES[status], "message": detail or MESSAGES[status]}
    return render(request, "error.html", context, status=status)


def _our_text(exc: web.HTTPException) -> str | None:
    """The reason a view gave (`HTTPForbidden(text=...)`), not aiohttp's default body."""
    text = (exc.text or "").strip()
    return None if not text or text == f"{exc.status}: {exc.reason}" else text


@web.middleware
async def error_pages_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if wants_json(request) or request.path.startswith("/static/"):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status not in (403, 404):
            raise
        return error_page(request, exc.status, _our_text(exc) if exc.status == 403 else None)
    except BusError as exc:
        if exc.code == "not_found":  # e.g. another workspace's conversation, by its id
            return error_page(request, 404)
        log.warning("bus request failed: %s", exc)
        return error_page(request, 503)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return error_page(request, 500)

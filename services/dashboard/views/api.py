"""JSON endpoints for the live parts: send, read marks, and the resync after a reconnect."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.dashboard import directory, keys
from services.dashboard.ask import ask
from services.dashboard.auth import current_agent, workspace_id
from services.dashboard.people import people_for
from services.dashboard.views.conversation import conversation_id, send
from shared.errors import BusError
from shared.events import parse_time
from shared.schema import chat_requests as rq

MAX_BODY = 64 * 1024
BUSY_RETRY_AFTER = 1
BUSY_TEXT = "Chat is busy right now; sending again with the same client_msg_id is safe."
RESYNC_ROUNDS = 5  # 5 × 500 changed conversations; beyond that the page reloads instead
MESSAGE_ROUNDS = 10
OLDER_PAGE = 50  # messages per scroll-up page


async def json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is None or request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(
            max_size=MAX_BODY, actual_size=request.content_length or 0
        )
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text="Body is not JSON.\n") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="Body must be a JSON object.\n")
    return body


async def post_message(request: web.Request) -> web.Response:
    body = await json_body(request)
    text, client_msg_id = body.get("text"), body.get("client_msg_id")
    if not isinstance(text, str) or not isinstance(client_msg_id, str):
        raise web.HTTPBadRequest(text="text and client_msg_id are required strings.\n")
    try:
        message = await send(
            request, conversation_id(request), text, bool(body.get("internal")), client_msg_id
        )
    except BusError as exc:
        if exc.code == "not_found":
            return web.json_response(
                {"code": "not_found", "message": "No such conversation."}, status=404
            )
        if exc.code not in ("busy", "timeout"):
            raise
        # stored once whatever happened: a retry with the same client_msg_id is safe
        return web.json_response(
            {"code": exc.code, "message": BUSY_TEXT, "client_msg_id": client_msg_id},
            status=503,
            headers={"Retry-After": str(BUSY_RETRY_AFTER)},
        )
    return web.json_response({"message": message})


def _seq_param(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number.\n")
    return int(raw)


async def messages_before(request: web.Request, before: int) -> web.Response:
    """One page of the messages below `before_seq`, oldest first: the thread scrolled up."""
    page = await ask(
        request.app,
        "chat",
        "conversation.messages",
        rq.ConversationMessages(
            workspace_id=workspace_id(request),
            conversation_id=conversation_id(request),
            before_seq=max(before, 1),
            limit=OLDER_PAGE,
        ),
    )
    messages = page.get("messages") or []
    return web.json_response({"messages": messages, "has_more": bool(page.get("has_more"))})


async def messages_after(request: web.Request) -> web.Response:
    """Every message after `after_seq`: what the page missed while its socket was down;
    or, given `before_seq` instead, one page of older ones (`messages_before`)."""
    before = _seq_param(request, "before_seq", None)
    if before is not None:
        return await messages_before(request, before)
    after = _seq_param(request, "after_seq", 0) or 0
    messages: list[dict[str, Any]] = []
    for _ in range(MESSAGE_ROUNDS):
        page = await ask(
            request.app,
            "chat",
            "conversation.messages",
            rq.ConversationMessages(
                workspace_id=workspace_id(request),
                conversation_id=conversation_id(request),
                after_seq=after,
                limit=200,
            ),
        )
        batch = page.get("messages") or []
        messages.extend(batch)
        if not page.get("has_more") or not batch:
            break
        after = batch[-1]["seq"]
    return web.json_response({"messages": messages})


async def mark_read(request: web.Request) -> web.Response:
    body = await json_body(request)
    seq = body.get("seq")
    if not isinstance(seq, int) or seq < 0:
        raise web.HTTPBadRequest(text="seq must be a non-negative integer.\n")
    result = await ask(
        request.app,
        "chat",
        "conversation.read",
        rq.ConversationRead(
            workspace_id=workspace_id(request),
            conversation_id=conversation_id(request),
            agent_id=current_agent(request)["_id"],
            seq=seq,
        ),
    )
    return web.json_response(result)


async def changes(request: web.Request) -> web.Response:
    """Conversations changed since `since`, with who is behind each, for the inbox resync."""
    since = request.query.get("since", "")
    if parse_time(since) is None:
        raise web.HTTPBadRequest(text="since must be an ISO-8601 time.\n")
    ws = workspace_id(request)
    agent_id = current_agent(request)["_id"]
    changed: list[dict[str, Any]] = []
    complete = False
    after_id: str | None = None
    for _ in range(RESYNC_ROUNDS):
        ask_for = rq.ConversationsChanged(
            workspace_id=ws, agent_id=agent_id, since=since, after_id=after_id, limit=500
        )
        page = await ask(request.app, "chat", "conversations.changed", ask_for)
        changed.extend(page.get("conversations") or [])
        since = page.get("next_since") or since
        after_id = page.get("next_after_id")
        if not page.get("has_more"):
            complete = True
            break
    people = await people_for(request.app, ws, changed)
    names = await directory.directory(request.app, ws)
    for conversation in changed:
        conversation["person"] = people.get(conversation["id"])
        conversation["row_html"] = request.app[keys.RENDERER].row(
            conversation, conversation["person"], names
        )
    return web.json_response({"conversations": changed, "next_since": since, "complete": complete})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/conversations/{id}/messages", post_message)
    app.router.add_get("/api/conversations/{id}/messages", messages_after)
    app.router.add_post("/api/conversations/{id}/read", mark_read)
    app.router.add_get("/api/changes", changes)

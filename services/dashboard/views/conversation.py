"""One conversation: the thread, the reply box, assignment, status and the profile sidebar."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from aiohttp import web

from services.dashboard import canned as placeholders
from services.dashboard import keys, sidebar
from services.dashboard.ask import Notices, ask
from services.dashboard.auth import current_agent, workspace_id
from services.dashboard.directory import directory
from services.dashboard.render import iso, render
from services.dashboard.store.profile import zone_of
from services.dashboard.views.inbox import STATUSES
from shared.errors import BusError
from shared.schema import chat_requests as rq

MESSAGES_SHOWN = 100
MAX_TEXT = 10_000
PRIORITIES = ("none", "low", "medium", "high", "urgent")
SNOOZES = {
    "1h": "For 1 hour",
    "4h": "For 4 hours",
    "tomorrow": "Until tomorrow",
    "week": "For a week",
}
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_SHORTCUT = re.compile(r"^/([A-Za-z0-9_-]{1,40})$")


def conversation_id(request: web.Request) -> str:
    value = request.match_info["id"]
    if not _ID.match(value):
        raise web.HTTPNotFound(text="Conversation not found.\n")
    return value


def agent_ref(agent: dict[str, Any]) -> dict[str, Any]:
    return {"id": agent["_id"], "name": agent.get("name") or agent["email"], "avatar": None}


def snooze_until(choice: str, now: datetime | None = None, zone: tzinfo = UTC) -> str:
    """When a snooze preset ends; "tomorrow" is 09:00 tomorrow in the agent's zone."""
    now = now or datetime.now(UTC)
    if choice == "1h":
        when = now + timedelta(hours=1)
    elif choice == "4h":
        when = now + timedelta(hours=4)
    elif choice == "week":
        when = now + timedelta(days=7)
    else:  # the wall clock's 09:00 there, whatever the offset is on that day
        day = (now.astimezone(zone) + timedelta(days=1)).date()
        when = datetime.combine(day, time(9), tzinfo=zone)
    return iso(when)


async def conversation_page(request: web.Request) -> web.StreamResponse:
    agent = current_agent(request)
    ws = workspace_id(request)
    cid = conversation_id(request)
    notices = Notices(request.app)
    store = request.app[keys.STORE]
    data, agents, canned, names = await asyncio.gather(  # independent: at once
        notices.ask(
            "chat",
            "conversation.get",
            rq.ConversationGet(
                workspace_id=ws, conversation_id=cid, agent_id=agent["_id"], limit=MESSAGES_SHOWN
            ),
            None,
            "this conversation",
            required=True,
        ),
        store.agents(ws),
        store.canned_replies(ws),
        directory(request.app, ws),
    )
    context: dict[str, Any] = {
        "active": "inbox",
        "conversation": None,
        "messages": [],
        "has_more": False,
        "agents": agents,
        "canned": canned,
        "statuses": STATUSES,
        "priorities": PRIORITIES,
        "snoozes": SNOOZES,
        "side": None,
        "names": names,
    }
    if data:
        conversation = data["conversation"]
        context.update(
            conversation=conversation,
            messages=data.get("messages") or [],
            has_more=bool(data.get("has_more")),
            side=await sidebar.load(request.app, ws, conversation, notices),
        )
    context["notices"] = notices.items
    return render(request, "conversation.html", context)


async def sidebar_fragment(request: web.Request) -> web.StreamResponse:
    """The sidebar alone, re-fetched by the page when identity promotes or merges the person."""
    agent = current_agent(request)
    ws = workspace_id(request)
    notices = Notices(request.app)
    data = await notices.ask(
        "chat",
        "conversation.get",
        rq.ConversationGet(
            workspace_id=ws,
            conversation_id=conversation_id(request),
            agent_id=agent["_id"],
            limit=1,
        ),
        None,
        "this conversation",
        required=True,
    )
    if not data:
        raise web.HTTPServiceUnavailable(text="Chat is not answering.\n")
    side = await sidebar.load(request.app, ws, data["conversation"], notices)
    return render(request, "_sidebar.html", {"side": side, "notices": notices.items})


async def update(request: web.Request) -> web.StreamResponse:
    """Assign, change status, snooze or set priority (a plain form: works without scripts)."""
    agent = current_agent(request)
    cid = conversation_id(request)
    form = await request.post()
    payload: dict[str, Any] = {
        "workspace_id": workspace_id(request),
        "conversation_id": cid,
        "agent_id": agent["_id"],
        "agent_name": agent_ref(agent)["name"][:200],
    }
    status = form.get("status")
    if status in STATUSES and status != "snoozed":
        payload["status"] = status
    snooze = form.get("snooze")
    if isinstance(snooze, str) and snooze in SNOOZES:
        payload["status"] = "snoozed"
        payload["snoozed_until"] = snooze_until(snooze, zone=zone_of(agent))
    priority = form.get("priority")
    if priority in PRIORITIES:
        payload["priority"] = priority
    if "assignee" in form:
        assignee = str(form["assignee"])
        if assignee in ("", "none"):
            payload["assignee_id"] = None
        elif assignee in ("auto", "me"):
            payload["assignee_id"] = agent["_id"] if assignee == "me" else "auto"
        else:
            target = await request.app[keys.STORE].agent(assignee)
            if target is None or target.get("workspace_id") != payload["workspace_id"]:
                raise web.HTTPBadRequest(text="Unknown agent.\n")
            payload["assignee_id"] = assignee
            payload["assignee_name"] = agent_ref(target)["name"][:200]
    if len(payload) > 4:
        try:
            await ask(request.app, "chat", "conversation.update", payload)
        except BusError as exc:
            if exc.code in ("invalid", "not_found"):
                raise web.HTTPBadRequest(text=f"{exc}\n") from exc
            raise
    raise web.HTTPSeeOther(f"/conversations/{cid}")


async def labels_fragment(request: web.Request) -> web.StreamResponse:
    """The labels box alone, re-fetched by the page when a colleague changes them."""
    agent = current_agent(request)
    ws = workspace_id(request)
    data = await Notices(request.app).ask(
        "chat",
        "conversation.get",
        rq.ConversationGet(
            workspace_id=ws,
            conversation_id=conversation_id(request),
            agent_id=agent["_id"],
            limit=1,
        ),
        None,
        "this conversation",
        required=True,
    )
    if not data:
        raise web.HTTPServiceUnavailable(text="Chat is not answering.\n")
    names = await directory(request.app, ws)
    return render(request, "_labels.html", {"c": data["conversation"], "names": names})


async def change_labels(request: web.Request) -> web.StreamResponse:
    """Add (`add`) or remove (`remove`) one label (a plain form: works without scripts)."""
    agent = current_agent(request)
    cid = conversation_id(request)
    form = await request.post()
    add, remove = str(form.get("add") or ""), str(form.get("remove") or "")
    if not any((add, remove)) or not all(_ID.match(v) for v in (add, remove) if v):
        raise web.HTTPBadRequest(text="Choose a label.\n")
    payload = rq.ConversationLabels(
        workspace_id=workspace_id(request),
        conversation_id=cid,
        agent_id=agent["_id"],
        add=[add] if add else [],
        remove=[remove] if remove else [],
    )
    try:
        await ask(request.app, "chat", "conversation.labels", payload)
    except BusError as exc:
        if exc.code in ("invalid", "not_found"):
            raise web.HTTPBadRequest(text=f"{exc}\n") from exc
        raise
    raise web.HTTPSeeOther(f"/conversations/{cid}")


async def merge(request: web.Request) -> web.StreamResponse:
    """Merge the person's other conversation (`source`) into this one: the sidebar's
    "Merge into this", confirmed by its small form (chat refuses two people's)."""
    agent = current_agent(request)
    cid = conversation_id(request)
    form = await request.post()
    source = form.get("source")
    if not isinstance(source, str) or not _ID.match(source):
        raise web.HTTPBadRequest(text="Which conversation to merge?\n")
    payload = rq.ConversationMerge(
        workspace_id=workspace_id(request),
        conversation_id=cid,
        source_id=source,
        agent_id=agent["_id"],
        agent_name=agent_ref(agent)["name"][:200],
    )
    try:
        await ask(request.app, "chat", "conversation.merge", payload)
    except BusError as exc:
        if exc.code in ("invalid", "not_found", "refused"):
            raise web.HTTPBadRequest(text=f"{exc}\n") from exc
        raise
    raise web.HTTPSeeOther(f"/conversations/{cid}")


def expand_shortcut(text: str, canned: list[dict[str, Any]]) -> str:
    """A reply that is exactly `/shortcut` of a canned reply is that reply's text."""
    match = _SHORTCUT.match(text.strip())
    if match is None:
        return text
    wanted = match.group(1).lower()
    return next((r["text"] for r in canned if r["shortcut"] == wanted), text)


async def placeholder_values(request: web.Request, cid: str) -> dict[str, str]:
    """A canned reply's placeholder values for this conversation's person (none if unknown)."""
    agent = current_agent(request)
    ws = workspace_id(request)
    notices = Notices(request.app)
    data = await notices.ask(
        "chat",
        "conversation.get",
        rq.ConversationGet(workspace_id=ws, conversation_id=cid, agent_id=agent["_id"], limit=1),
        None,
        "this conversation",
    )
    conversation = data.get("conversation") if isinstance(data, dict) else None
    profile = await sidebar.profile_for(notices, ws, conversation) if conversation else None
    return placeholders.values_of(profile, agent)


async def reply_form(request: web.Request) -> web.StreamResponse:
    """The reply box without scripts: post, then show the thread again."""
    cid = conversation_id(request)
    form = await request.post()
    canned = await request.app[keys.STORE].canned_replies(workspace_id(request))
    written = str(form.get("text", ""))
    text = expand_shortcut(written, canned)
    if text != written and placeholders.PLACEHOLDER.search(text):
        text = placeholders.fill(text, await placeholder_values(request, cid))
    await send(
        request,
        cid,
        text,
        internal=form.get("internal") == "on",
        client_msg_id=str(form.get("client_msg_id") or uuid.uuid4()),
    )
    raise web.HTTPSeeOther(f"/conversations/{cid}")


async def send(
    request: web.Request, cid: str, text: str, internal: bool, client_msg_id: str
) -> dict[str, Any]:
    text = text.strip()
    if not text or len(text) > MAX_TEXT:
        raise web.HTTPBadRequest(text=f"A reply has 1 to {MAX_TEXT} characters.\n")
    if not _ID.match(client_msg_id):
        raise web.HTTPBadRequest(text="Bad client message id.\n")
    return await ask(
        request.app,
        "chat",
        "agent.send",
        rq.AgentSend(
            workspace_id=workspace_id(request),
            conversation_id=cid,
            agent=rq.Agent(**agent_ref(current_agent(request))),
            client_msg_id=client_msg_id,
            text=text,
            internal=internal,
        ),
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/conversations/{id}", conversation_page)
    app.router.add_get("/conversations/{id}/sidebar", sidebar_fragment)
    app.router.add_post("/conversations/{id}/update", update)
    app.router.add_get("/conversations/{id}/labels", labels_fragment)
    app.router.add_post("/conversations/{id}/labels", change_labels)
    app.router.add_post("/conversations/{id}/reply", reply_form)
    app.router.add_post("/conversations/{id}/merge", merge)

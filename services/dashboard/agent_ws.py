"""The agent websocket: live frames of the workspace to every signed-in dashboard tab.

- One NATS subscription per workspace with open sockets (`P.live.agents.<ws>`); each
  frame is decorated once (who the person is) and queued to every socket. A socket
  that cannot keep up is closed: its page reconnects and resyncs from chat.
- From the page: `typing` (relayed to chat on `P.chat.agent.typing`) and `ping`.
- Presence: a heartbeat on `P.chat.agent.presence` every 15 s per agent with a socket
  open here, `online: false` when their last socket here closes.
- Sessions: a sign-out or a disabled agent is announced on `P.dashboard.sessions.ended`
  and every replica closes those sockets and forgets those cached sessions at once
  (services/dashboard/sessions.py); so is an agent removed from a workspace
  (services/dashboard/workspaces.py). Each presence tick also re-checks every
  session, and its membership of the socket's workspace (the backstop for a lost
  announcement); a check that fails
  (database down or slow) counts, and after `MAX_FAILED_CHECKS` in a row the
  socket is closed: an agent who cannot be verified keeps no live feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from services.dashboard import directory, keys
from services.dashboard.auth import same_origin
from services.dashboard.people import people_for
from shared.bus import Bus
from shared.errors import BusError
from shared.metrics import WS_CONNECTIONS
from shared.outbox import Outbox
from shared.ratelimit import RateLimiter
from shared.schema.chat_requests import Agent
from shared.schema.live import AgentPresence, AgentTyping
from shared.security import constant_time_equals
from shared.web import BUS

log = logging.getLogger("parley.dashboard.ws")

PRESENCE_EVERY = 15.0
MAX_FAILED_CHECKS = 3
CHECK_TIMEOUT = 5.0
QUEUE_LIMIT = 500
MAX_FRAME = 4096
PERSON_TTL = 30.0
DECORATE_TIMEOUT = 0.5
DECORATED = ("message", "conversation.updated")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


@dataclass(eq=False)
class Conn:
    ws: web.WebSocketResponse
    agent: dict[str, Any]
    session_id: str
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.ws, QUEUE_LIMIT)

    @property
    def workspace_id(self) -> str:
        return self.agent.get("workspace_id") or "default"

    def offer(self, text: str) -> bool:
        return self.outbox.offer(text)


class AgentHub:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.conns: set[Conn] = set()
        self._subs: dict[str, Any] = {}
        self._people: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._presence: asyncio.Task | None = None
        self._ended_sub: Any = None
        self._failed_checks: dict[str, int] = {}
        self.typing_limit = RateLimiter(rate=4, burst=8, max_keys=10_000)

    @property
    def bus(self) -> Bus:
        return self.app[BUS]

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        self._ended_sub = await self.bus.subscribe(
            self.bus.subjects.dashboard_sessions_ended, self._on_ended
        )
        self._presence = asyncio.create_task(self._presence_loop())

    async def stop(self) -> None:
        if self._ended_sub is not None:
            with contextlib.suppress(Exception):
                await self._ended_sub.unsubscribe()
        if self._presence:
            self._presence.cancel()
            await asyncio.gather(self._presence, return_exceptions=True)

    async def close_all(self) -> None:
        for conn in list(self.conns):
            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    async def add(self, conn: Conn) -> None:
        first_of_agent = not self._agent_conns(conn.agent["_id"], conn.workspace_id)
        self.conns.add(conn)
        conn.outbox.start()
        ws_id = conn.workspace_id
        if ws_id not in self._subs:
            subject = self.bus.subjects.live_agents(ws_id)

            async def forward(frame: Any, ws_id: str = ws_id) -> None:
                await self.fan_out(ws_id, frame)

            self._subs[ws_id] = await self.bus.subscribe(subject, forward)
        if first_of_agent:
            await self._announce(conn.agent, online=True)

    async def remove(self, conn: Conn) -> None:
        if conn not in self.conns:
            return
        self.conns.discard(conn)
        await conn.outbox.stop()
        ws_id = conn.workspace_id
        if not any(c.workspace_id == ws_id for c in self.conns) and ws_id in self._subs:
            sub = self._subs.pop(ws_id)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        if not self._agent_conns(conn.agent["_id"], ws_id):
            await self._announce(conn.agent, online=False)

    # --- sessions that end --------------------------------------------------------------
    async def session_ended(self, session_id: str) -> None:
        """A sign-out: close its sockets here and on every other replica."""
        self.app[keys.SESSIONS].forget(session_id=session_id)
        await self._close_where(lambda c: c.session_id == session_id)
        await self._announce_ended({"session_id": session_id})

    async def agent_disabled(self, agent_id: str) -> None:
        """An agent was disabled: close all their sockets here and on every other replica."""
        self.app[keys.SESSIONS].forget(agent_id=agent_id)
        await self._close_where(lambda c: c.agent["_id"] == agent_id)
        await self._announce_ended({"agent_id": agent_id})

    async def _announce_ended(self, what: dict[str, str]) -> None:
        try:
            await self.bus.publish(self.bus.subjects.dashboard_sessions_ended, what)
        except Exception as exc:  # noqa: BLE001 - the periodic session check still closes them
            log.warning("could not announce the end of a session: %s", exc)

    async def _on_ended(self, what: Any) -> None:
        if not isinstance(what, dict):
            return
        session_id, agent_id = what.get("session_id"), what.get("agent_id")
        if isinstance(session_id, str) or isinstance(agent_id, str):
            self.app[keys.SESSIONS].forget(
                session_id=session_id if isinstance(session_id, str) else None,
                agent_id=agent_id if isinstance(agent_id, str) else None,
            )
        await self._close_where(
            lambda c: (
                (session_id is not None and c.session_id == session_id)
                or (agent_id is not None and c.agent["_id"] == agent_id)
            )
        )

    async def _close_where(self, which: Any, message: bytes = b"signed out") -> None:
        for conn in [c for c in self.conns if which(c)]:
            await conn.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=message)

    def _agent_conns(self, agent_id: str, workspace_id: str) -> list[Conn]:
        """The agent's sockets in one workspace (presence is per workspace)."""
        return [
            c for c in self.conns if c.agent["_id"] == agent_id and c.workspace_id == workspace_id
        ]

    # --- frames from NATS to the pages ---------------------------------------------------
    async def fan_out(self, workspace_id: str, frame: Any) -> None:
        if not isinstance(frame, dict):
            return
        if frame.get("type") == "profile.updated":
            self._people.clear()
        elif frame.get("type") == "labels.changed":
            directory.forget(self.app, workspace_id)
        elif frame.get("type") in DECORATED and isinstance(frame.get("conversation"), dict):
            conversation = frame["conversation"]
            conversation["person"] = await self._person(workspace_id, conversation)
            conversation["row_html"] = self.app[keys.RENDERER].row(
                conversation,
                conversation["person"],
                await directory.directory(self.app, workspace_id),
            )
        text = json.dumps(frame, default=str)
        for conn in [c for c in self.conns if c.workspace_id == workspace_id]:
            if not conn.offer(text):
                log.warning("agent socket too slow, closing it")
                await conn.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow")

    async def _person(self, workspace_id: str, conversation: dict[str, Any]) -> dict | None:
        key = (
            workspace_id,
            f"{conversation.get('profile_id')}|{conversation.get('distinct_id')}|"
            f"{conversation.get('email')}",
        )
        cached = self._people.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        # frames wait for this: a slow identity must not hold the live feed up for long
        people = await people_for(self.app, workspace_id, [conversation], timeout=DECORATE_TIMEOUT)
        person = people.get(str(conversation.get("id")))
        if person and len(self._people) < 10_000:
            self._people[key] = (time.monotonic() + PERSON_TTL, person)
        return person

    # --- frames from the pages -----------------------------------------------------------
    async def receive(self, conn: Conn, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            return
        if not isinstance(frame, dict):
            return
        kind = frame.get("type")
        if kind == "ping":
            conn.offer('{"type":"pong"}')
        elif kind == "typing":
            cid = frame.get("conversation_id")
            if not isinstance(cid, str) or not _ID.match(cid):
                return
            if not self.typing_limit.allow(conn.session_id):
                return
            agent = conn.agent
            await self.bus.publish(
                self.bus.subjects.request("chat", "agent.typing"),
                AgentTyping(
                    workspace_id=conn.workspace_id,
                    conversation_id=cid,
                    agent=Agent(id=agent["_id"], name=agent.get("name") or agent["email"]),
                    typing=bool(frame.get("typing")),
                ),
            )

    # --- presence ------------------------------------------------------------------------
    async def _announce(self, agent: dict[str, Any], online: bool) -> None:
        try:
            await self.bus.publish(
                self.bus.subjects.request("chat", "agent.presence"),
                AgentPresence(
                    workspace_id=agent.get("workspace_id") or "default",
                    agent_id=agent["_id"],
                    name=agent.get("name") or agent["email"],
                    online=online,
                ),
            )
        except Exception as exc:  # noqa: BLE001 - presence is best effort; the next tick retries
            log.warning("presence heartbeat failed: %s", exc)

    async def _presence_loop(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_EVERY)
            await self._check_sessions()
            seen: set[tuple[str, str]] = set()
            for conn in list(self.conns):
                if (conn.agent["_id"], conn.workspace_id) not in seen:
                    seen.add((conn.agent["_id"], conn.workspace_id))
                    await self._announce(conn.agent, online=True)

    async def _check_sessions(self) -> None:
        """Close sockets whose session ended, or could not be verified too many times in a row."""
        store = self.app[keys.STORE]
        # a socket serves one workspace: its session must still be a member of it
        pairs = sorted({(c.session_id, c.workspace_id) for c in self.conns})
        verdicts = await asyncio.gather(*(_session_alive(store, s, w) for s, w in pairs))
        for (session_id, ws_id), alive in zip(pairs, verdicts, strict=True):
            check = f"{session_id}|{ws_id}"
            if alive is None:
                failures = self._failed_checks.get(check, 0) + 1
                self._failed_checks[check] = failures
                log.warning("session check failed (%d in a row)", failures)
                if failures < MAX_FAILED_CHECKS:
                    continue
                message = b"session cannot be verified"
            elif alive:
                self._failed_checks.pop(check, None)
                continue
            else:
                message = b"signed out"
            self._failed_checks.pop(check, None)
            await self._close_where(
                lambda c, s=session_id, w=ws_id: c.session_id == s and c.workspace_id == w,
                message,
            )
        for gone in set(self._failed_checks) - {f"{s}|{w}" for s, w in pairs}:
            del self._failed_checks[gone]


async def _session_alive(store: Any, session_id: str, workspace_id: str) -> bool | None:
    """True or False from the database; None when it could not answer (counted, fails closed)."""
    try:
        return await asyncio.wait_for(
            store.session_is_live(session_id, workspace_id), CHECK_TIMEOUT
        )
    except Exception as exc:  # noqa: BLE001 - Mongo down or slow: a failed check, not a verdict
        log.warning("session check could not reach the database: %r", exc)
        return None


async def agent_socket(request: web.Request) -> web.StreamResponse:
    # browsers do not apply CORS to websockets: without this check any site could
    # open a socket with the agent's cookie (cross-site websocket hijacking)
    if "Origin" not in request.headers or not same_origin(request):
        raise web.HTTPForbidden(text="Cross-site websocket refused.\n")
    session = request[keys.SESSION]
    if not constant_time_equals(request.query.get("csrf", ""), session["csrf"]):
        raise web.HTTPForbidden(text="Missing or invalid CSRF token.\n")
    ws = web.WebSocketResponse(heartbeat=25, max_msg_size=MAX_FRAME, compress=False)
    await ws.prepare(request)
    hub = request.app[keys.HUB]
    conn = Conn(ws=ws, agent=request[keys.AGENT], session_id=session["_id"])
    WS_CONNECTIONS.labels("dashboard", "agent").inc()
    try:
        await hub.add(conn)
        conn.offer(json.dumps({"type": "hello", "agent_id": conn.agent["_id"]}))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await hub.receive(conn, msg.data)
            elif msg.type == WSMsgType.ERROR:
                break
    except BusError as exc:
        log.warning("agent socket ended: %s", exc)
    finally:
        # aiohttp cancels the handler when the peer goes away: finish the clean-up anyway
        WS_CONNECTIONS.labels("dashboard", "agent").dec()
        await asyncio.shield(hub.remove(conn))
    return ws


def setup(app: web.Application) -> None:
    async def hub_ctx(app: web.Application):
        hub = AgentHub(app)
        app[keys.HUB] = hub
        await hub.start()
        yield
        await hub.stop()

    async def close_sockets(app: web.Application) -> None:
        await app[keys.HUB].close_all()

    app.cleanup_ctx.append(hub_ctx)
    app.on_shutdown.append(close_sockets)
    app.router.add_get("/ws", agent_socket)

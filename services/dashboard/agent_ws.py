"""The agent websocket: live frames of the workspace to every signed-in dashboard tab.

- One NATS subscription per workspace with open sockets (`P.live.agents.<ws>`); each
  frame is decorated once (who the person is) and queued to every socket. A socket
  that cannot keep up is closed: its page reconnects and resyncs from chat.
- From the page: `typing` (relayed to chat on `P.chat.agent.typing`) and `ping`.
- Presence: a heartbeat on `P.chat.agent.presence` every 15 s per agent with a socket
  open here, `online: false` when their last socket here closes; each tick also
  re-checks the session, so a signed-out or disabled agent's sockets close.
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

from services.dashboard import keys
from services.dashboard.auth import same_origin
from services.dashboard.people import people_for
from shared.bus import Bus
from shared.errors import BusError
from shared.metrics import WS_CONNECTIONS
from shared.outbox import Outbox
from shared.ratelimit import RateLimiter
from shared.security import constant_time_equals
from shared.web import BUS

log = logging.getLogger("parley.dashboard.ws")

PRESENCE_EVERY = 15.0
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
        self.typing_limit = RateLimiter(rate=4, burst=8, max_keys=10_000)

    @property
    def bus(self) -> Bus:
        return self.app[BUS]

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        self._presence = asyncio.create_task(self._presence_loop())

    async def stop(self) -> None:
        if self._presence:
            self._presence.cancel()
            await asyncio.gather(self._presence, return_exceptions=True)

    async def close_all(self) -> None:
        for conn in list(self.conns):
            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    async def add(self, conn: Conn) -> None:
        first_of_agent = not self._agent_conns(conn.agent["_id"])
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
        if not self._agent_conns(conn.agent["_id"]):
            await self._announce(conn.agent, online=False)

    async def session_ended(self, session_id: str) -> None:
        for conn in [c for c in self.conns if c.session_id == session_id]:
            await conn.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"signed out")

    def _agent_conns(self, agent_id: str) -> list[Conn]:
        return [c for c in self.conns if c.agent["_id"] == agent_id]

    # --- frames from NATS to the pages ---------------------------------------------------
    async def fan_out(self, workspace_id: str, frame: Any) -> None:
        if not isinstance(frame, dict):
            return
        if frame.get("type") == "profile.updated":
            self._people.clear()
        elif frame.get("type") in DECORATED and isinstance(frame.get("conversation"), dict):
            frame["conversation"]["person"] = await self._person(
                workspace_id, frame["conversation"]
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
        person = people.get(conversation.get("id"))
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
                {
                    "workspace_id": conn.workspace_id,
                    "conversation_id": cid,
                    "agent": {
                        "id": agent["_id"],
                        "name": agent.get("name") or agent["email"],
                        "avatar": None,
                    },
                    "typing": bool(frame.get("typing")),
                },
            )

    # --- presence ------------------------------------------------------------------------
    async def _announce(self, agent: dict[str, Any], online: bool) -> None:
        try:
            await self.bus.publish(
                self.bus.subjects.request("chat", "agent.presence"),
                {
                    "workspace_id": agent.get("workspace_id") or "default",
                    "agent_id": agent["_id"],
                    "name": agent.get("name") or agent["email"],
                    "avatar": None,
                    "online": online,
                },
            )
        except Exception as exc:  # noqa: BLE001 - presence is best effort; the next tick retries
            log.warning("presence heartbeat failed: %s", exc)

    async def _presence_loop(self) -> None:
        store = self.app[keys.STORE]
        while True:
            await asyncio.sleep(PRESENCE_EVERY)
            seen: set[str] = set()
            for conn in list(self.conns):
                session = await _session_alive(store, conn.session_id)
                if not session:
                    await conn.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"signed out")
                    continue
                if conn.agent["_id"] not in seen:
                    seen.add(conn.agent["_id"])
                    await self._announce(conn.agent, online=True)


async def _session_alive(store: Any, session_id: str) -> bool:
    try:
        doc = await store.db.sessions.find_one({"_id": session_id}, {"agent_id": 1})
        if doc is None:
            return False
        agent = await store.agent(doc["agent_id"])
        return bool(agent and agent.get("active", True))
    except Exception:  # noqa: BLE001 - Mongo hiccup: keep the socket, check next tick
        return True


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
    async def hub_ctx(app: web.Application):  # type: ignore[no-untyped-def]
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

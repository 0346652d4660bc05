"""Delivery to visitor sockets: one core-NATS subscription per visitor held by this process.

The gateway keeps no chat state: chat publishes a visitor's frames on
`P.live.visitor.<ws>.<visitor_id>` and whichever gateway holds that visitor's sockets
(one per tab) forwards them. Frames for all of a workspace's visitors (presence) come
on `P.live.visitors.<ws>`, subscribed while this process holds a socket of it. Each
socket has a bounded outbound queue drained by its own writer task, so a slow reader
never blocks the others; one that cannot keep up is closed and its widget reconnects
and resyncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web

from shared.bus import Bus
from shared.outbox import Outbox
from shared.tasks import BackgroundTasks

log = logging.getLogger("parley.gateway.hub")
# closing a too-slow socket is not awaited by the frame's sender
CLOSERS = BackgroundTasks(log, "closing a slow visitor socket")

QUEUE_LIMIT = 256
FORWARDED = ("message", "typing", "read", "contact")
# about the person, not the conversation: never to a socket a continue link opened
PROFILE_FRAMES = ("contact",)
WORKSPACE_FORWARDED = ("presence",)


@dataclass(eq=False)
class VisitorConn:
    ws: web.WebSocketResponse
    workspace_id: str
    visitor_id: str
    ip: str
    # False for a continue link's socket (services/gateway/visitor/grant.py)
    profile_frames: bool = True
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.ws, QUEUE_LIMIT)

    @property
    def queue(self) -> asyncio.Queue[str]:
        return self.outbox.queue

    def send(self, frame: dict[str, Any]) -> None:
        """Queue a frame; a socket whose queue is full is too slow and gets closed."""
        if self.ws.closed or (not self.profile_frames and frame.get("type") in PROFILE_FRAMES):
            return
        if not self.outbox.offer(json.dumps(frame, separators=(",", ":"))):
            log.warning("visitor socket too slow, closing")
            CLOSERS.start(
                self.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow"), key=self
            )


def live_frame_ok(frame: Any) -> bool:
    """Only the live frame types of the contract, and never an internal note."""
    if not isinstance(frame, dict) or frame.get("type") not in FORWARDED:
        return False
    if frame["type"] == "message":
        message = frame.get("message")
        return isinstance(message, dict) and not message.get("internal")
    return True


class VisitorHub:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.conns: dict[tuple[str, str], set[VisitorConn]] = {}
        self._subs: dict[tuple[str, str], Any] = {}
        self._ws_subs: dict[str, Any] = {}
        self._visitors_of: dict[str, set[tuple[str, str]]] = {}
        self._lock = asyncio.Lock()

    def count(self) -> int:
        return sum(len(c) for c in self.conns.values())

    async def add(self, conn: VisitorConn) -> None:
        """Subscribe before the caller reads history, so nothing falls between the two."""
        key = (conn.workspace_id, conn.visitor_id)
        async with self._lock:
            self.conns.setdefault(key, set()).add(conn)
            if key not in self._subs:
                subject = self.bus.subjects.live_visitor(*key)

                async def deliver(frame: dict[str, Any], key: tuple[str, str] = key) -> None:
                    if live_frame_ok(frame):
                        for c in list(self.conns.get(key, ())):
                            c.send(frame)

                self._subs[key] = await self.bus.subscribe(subject, deliver)
                self._visitors_of.setdefault(conn.workspace_id, set()).add(key)
                if conn.workspace_id not in self._ws_subs:
                    self._ws_subs[conn.workspace_id] = await self._subscribe_workspace(
                        conn.workspace_id
                    )
                assert self.bus.nc is not None
                await self.bus.nc.flush()
        conn.outbox.start()

    async def remove(self, conn: VisitorConn) -> None:
        key = (conn.workspace_id, conn.visitor_id)
        await conn.outbox.stop()
        async with self._lock:
            group = self.conns.get(key)
            if group is not None:
                group.discard(conn)
                if not group:
                    del self.conns[key]
                    sub = self._subs.pop(key, None)
                    if sub is not None:
                        with contextlib.suppress(Exception):
                            await sub.unsubscribe()
                    await self._leave_workspace(key)

    async def _subscribe_workspace(self, workspace_id: str) -> Any:
        async def deliver(frame: dict[str, Any]) -> None:
            if not (isinstance(frame, dict) and frame.get("type") in WORKSPACE_FORWARDED):
                return
            for key in list(self._visitors_of.get(workspace_id, ())):
                for c in list(self.conns.get(key, ())):
                    c.send(frame)

        return await self.bus.subscribe(self.bus.subjects.live_visitors(workspace_id), deliver)

    async def _leave_workspace(self, key: tuple[str, str]) -> None:
        """The visitor's last socket here closed: drop the workspace feed with its last one."""
        visitors = self._visitors_of.get(key[0], set())
        visitors.discard(key)
        if visitors:
            return
        self._visitors_of.pop(key[0], None)
        sub = self._ws_subs.pop(key[0], None)
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def close_all(self) -> None:
        for group in list(self.conns.values()):
            for conn in list(group):
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

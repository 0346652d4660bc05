"""Delivery to visitor sockets: one wildcard core-NATS subscription per gateway process.

The gateway keeps no chat state: chat publishes a visitor's frames on
`P.live.visitor.<ws>.<visitor_id>` and whichever gateway holds that visitor's sockets
(one per tab, on one gateway or several) forwards them; frames for all of a
workspace's visitors (presence) come on `P.live.visitors.<ws>`. Each process
subscribes once to each feed with a wildcard when it starts and dispatches by subject
to the sockets it holds (a subscription per visitor cost a pending queue and a task,
~5 KB a socket); a frame for a visitor held elsewhere is dropped before it is decoded.
A frame is read as its Struct (shared/schema/live.py), so a malformed one is logged
and dropped, and re-encoded once for all the sockets it goes to. Each socket has a
bounded outbound queue (shared/outbox.py), so a slow reader never blocks the others;
one that cannot keep up is closed and its widget reconnects and resyncs.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web
from nats.aio.msg import Msg

from shared.bus import Bus
from shared.outbox import Outbox
from shared.schema.live import (
    LiveRefused,
    VisitorContact,
    VisitorMessage,
    VisitorNewConversation,
    frame_text,
    read_presence,
    read_visitor_frame,
)
from shared.tasks import BackgroundTasks

log = logging.getLogger("parley.gateway.hub")
# closing a too-slow socket is not awaited by the frame's sender
CLOSERS = BackgroundTasks(log, "closing a slow visitor socket")

QUEUE_LIMIT = 256

VisitorKey = tuple[str, str]  # (workspace id, visitor id)


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
    def key(self) -> VisitorKey:
        return (self.workspace_id, self.visitor_id)

    def send(self, frame: dict[str, Any]) -> None:
        self.send_text(json.dumps(frame, separators=(",", ":")))

    def send_text(self, text: str) -> None:
        """Queue an encoded frame; a socket whose queue is full is too slow and gets closed."""
        if self.ws.closed:
            return
        if not self.outbox.offer(text):
            log.warning("visitor socket too slow, closing")
            CLOSERS.start(
                self.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow"), key=self
            )


class VisitorHub:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        # a visitor's sockets here, one per tab: a list (a set costs 216 bytes a visitor)
        self.conns: dict[VisitorKey, list[VisitorConn]] = {}
        self._of_workspace: dict[str, set[VisitorConn]] = {}
        self._subs: list[Any] = []

    def count(self) -> int:
        return sum(len(c) for c in self.conns.values())

    async def start(self) -> None:
        """Subscribe to both feeds once, before any socket is taken."""
        subjects = self.bus.subjects
        self._subs = [
            await self.bus.subscribe_messages(subjects.live_visitor_all, self._on_visitor),
            await self.bus.subscribe_messages(subjects.live_visitors_all, self._on_workspace),
            await self.bus.subscribe_messages(subjects.visitor_connected_all, self._on_connected),
        ]
        assert self.bus.nc is not None
        await self.bus.nc.flush()  # the SUBs reached the server: nothing published is missed

    def add(self, conn: VisitorConn) -> None:
        """Before the caller reads history, so nothing falls between the two (the
        subscription is already in place: from now on this socket gets its frames)."""
        self.conns.setdefault(conn.key, []).append(conn)
        self._of_workspace.setdefault(conn.workspace_id, set()).add(conn)
        conn.outbox.start()

    def move(self, conn: VisitorConn, visitor_id: str) -> None:
        """Deliver another visitor key's frames to this socket (a member's other
        conversation, visitor/member.py) instead of the ones it had."""
        tabs = self.conns.get(conn.key, [])
        if conn in tabs:
            tabs.remove(conn)
        if not tabs:
            self.conns.pop(conn.key, None)
        conn.visitor_id = visitor_id
        self.conns.setdefault(conn.key, []).append(conn)

    async def remove(self, conn: VisitorConn) -> None:
        await conn.outbox.stop()
        tabs = self.conns.get(conn.key, [])
        if conn in tabs:
            tabs.remove(conn)
        if not tabs:
            self.conns.pop(conn.key, None)
        others = self._of_workspace.get(conn.workspace_id, set())
        others.discard(conn)
        if not others:
            self._of_workspace.pop(conn.workspace_id, None)

    # --- dispatch --------------------------------------------------------------------
    async def _on_visitor(self, msg: Msg) -> None:
        _, workspace_id, visitor_id = msg.subject.rsplit(".", 2)
        conns = self.conns.get((workspace_id, visitor_id))
        if not conns:
            return  # a visitor held by another gateway process, or gone
        try:
            frame = read_visitor_frame(msg.data)
        except LiveRefused as exc:
            _dropped(msg, exc)
            return
        if isinstance(frame, VisitorMessage) and frame.message.internal:
            return  # never to a visitor, whoever published it
        if isinstance(frame, VisitorContact | VisitorNewConversation):
            # the person's (their address, their new conversation), not the conversation's:
            # never to a continue link's socket
            conns = [c for c in conns if c.profile_frames]
        _fan_out(frame_text(frame), conns)

    async def _on_workspace(self, msg: Msg) -> None:
        conns = self._of_workspace.get(msg.subject.rsplit(".", 1)[1])
        if not conns:
            return
        try:
            frame = read_presence(msg.data)
        except LiveRefused as exc:
            _dropped(msg, exc)
            return
        _fan_out(frame_text(frame), conns)

    async def _on_connected(self, msg: Msg) -> None:
        """The mail service asks every gateway whether it holds a socket of a visitor:
        each answers for itself, so the asker stops at the first yes (see
        services/mail/outbound.visitor_connected)."""
        if not msg.reply:
            return
        _, workspace_id, visitor_id = msg.subject.rsplit(".", 2)
        held = bool(self.conns.get((workspace_id, visitor_id)))
        with contextlib.suppress(Exception):
            await msg.respond(b'{"connected":true}' if held else b'{"connected":false}')

    async def close_all(self) -> None:
        for group in list(self.conns.values()):
            for conn in list(group):
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def _fan_out(text: str, conns: Collection[VisitorConn]) -> None:
    for conn in list(conns):
        conn.send_text(text)


def _dropped(msg: Msg, exc: LiveRefused) -> None:
    log.warning("malformed live frame dropped", extra={"subject": msg.subject, "reason": str(exc)})

"""The visitors: one process holding every visitor socket, as the widget would (docs/widget-protocol.md).

Each visitor says something every `visitors / messages_per_second` seconds, reads what
the agent answers (and marks it read), sends the widget's application ping every 25 s
and reconnects with its token if the socket closes. The gateway limits sockets and new
visitors per IP, so the visitors come from several loopback addresses (127.0.0.2 and
on, at most PER_IP each): the soak is never refused by those limits, which stay as
they are in production.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import random
import time
import uuid
from typing import Any

import aiohttp

from bench.load.plan import LoadPlan, Stats, run_reporting

ORIGIN = "http://shop.example"
PER_IP = 15  # under the gateway's 20 sockets and 30 new visitors (burst) per IP
CONNECTS_PER_SECOND = 50  # the ramp: 1,000 visitors are in within 20 s
APP_PING_EVERY = 25.0
FIRST_ADDRESS = ipaddress.IPv4Address("127.0.0.2")


def source_addresses(visitors: int) -> list[str]:
    count = max(1, math.ceil(visitors / PER_IP))
    return [str(FIRST_ADDRESS + i) for i in range(count)]


class Visitor:
    def __init__(self, plan: LoadPlan, session: aiohttp.ClientSession, stats: Stats) -> None:
        self.plan = plan
        self.session = session
        self.stats = stats
        self.token: str | None = None
        self.last_seq = 0
        self.sent_at: dict[str, float] = {}  # client_msg_id -> when it was sent
        self.interval = plan.visitors / plan.messages_per_second

    async def run(self, first_message_in: float) -> None:
        next_say = time.monotonic() + first_message_in
        backoff = 0.5
        while self.plan.left() > 0:
            try:
                ws = await self.session.ws_connect(
                    f"{self.plan.gateway_url}/v1/widget/ws?key={self.plan.write_key}",
                    headers={"Origin": ORIGIN},
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5),
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.stats.error(f"connect {type(exc).__name__} {getattr(exc, 'status', '')}")
                await asyncio.sleep(min(backoff, max(0.0, self.plan.left())))
                backoff = min(backoff * 2, 15)
                continue
            backoff = 0.5
            self.stats.count("connects")
            try:
                next_say = await self.converse(ws, next_say)
            except (aiohttp.ClientError, ConnectionError) as exc:  # e.g. a send on a lost socket
                self.stats.error(f"socket {type(exc).__name__}")
            finally:
                await ws.close()

    async def converse(self, ws: aiohttp.ClientWebSocketResponse, next_say: float) -> float:
        """Talk until the run ends or the socket closes; when the next message is due."""
        await ws.send_json(self.hello())
        next_ping = time.monotonic() + APP_PING_EVERY
        ends = time.monotonic() + self.plan.left()
        while (now := time.monotonic()) < ends:
            if now >= next_say:
                await self.say(ws)
                next_say += self.interval
            if now >= next_ping:
                await ws.send_json({"type": "ping"})
                next_ping += APP_PING_EVERY
            try:
                msg = await ws.receive(timeout=max(0.01, min(next_say, next_ping, ends) - now))
            except TimeoutError:
                continue
            if msg.type == aiohttp.WSMsgType.TEXT:
                await self.on_frame(ws, json.loads(msg.data))
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                self.stats.error(f"closed by the gateway ({ws.close_code})")
                return next_say
            elif msg.type == aiohttp.WSMsgType.ERROR:
                self.stats.error(f"socket error {ws.exception()!r}")
                return next_say
        return next_say

    def hello(self) -> dict[str, Any]:
        page = {"url": f"{ORIGIN}/soak", "title": "Soak", "referrer": "", "path": "/soak"}
        return {"type": "hello", "token": self.token, "last_seq": self.last_seq, "page": page}

    def page_view(self) -> dict[str, Any]:
        page = {"url": f"{ORIGIN}/soak", "title": "Soak", "referrer": "", "path": "/soak"}
        return {"type": "page", "message_id": "p" + uuid.uuid4().hex} | page

    async def say(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        cmid = "s" + uuid.uuid4().hex
        self.sent_at[cmid] = time.monotonic()
        await ws.send_json({"type": "message", "client_msg_id": cmid, "text": "soak: hello?"})
        self.stats.count("messages sent")

    async def on_frame(self, ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "welcome":
            if self.token is None:  # the widget's first page view, as widget.js sends it
                await ws.send_json(self.page_view())
            self.token = frame["token"]
        elif kind == "accepted":
            self.stats.count("messages accepted")
        elif kind == "ok":
            self.stats.count("page views stored")
        elif kind == "history":
            self.last_seq = max(self.last_seq, frame.get("last_seq") or 0)
        elif kind == "message":
            await self.on_message(ws, frame["message"])
        elif kind == "error":
            self.stats.error(f"frame {frame.get('code')}")

    async def on_message(
        self, ws: aiohttp.ClientWebSocketResponse, message: dict[str, Any]
    ) -> None:
        self.last_seq = max(self.last_seq, message.get("seq") or 0)
        cmid = message.get("client_msg_id") or ""
        if message["author"]["kind"] == "visitor":
            if cmid in self.sent_at:
                self.stats.latency("stored", time.monotonic() - self.sent_at[cmid])
            return
        self.stats.count("replies received")
        asked = self.sent_at.pop(cmid.removeprefix("r-"), None)  # the agent answers "r-<cmid>"
        if asked is not None:
            self.stats.latency("reply", time.monotonic() - asked)
        await ws.send_json({"type": "read", "seq": message["seq"]})


async def _visitors(plan: LoadPlan, stats: Stats) -> None:
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0), limit=0))
        for address in source_addresses(plan.visitors)
    ]
    interval = plan.visitors / plan.messages_per_second
    try:
        tasks = []
        for n in range(plan.visitors):
            visitor = Visitor(plan, sessions[n // PER_IP], stats)
            tasks.append(asyncio.create_task(visitor.run(random.uniform(0, interval))))
            await asyncio.sleep(1 / CONNECTS_PER_SECOND)
        await asyncio.gather(*tasks)
    finally:
        for session in sessions:
            await session.close()


def main(plan: LoadPlan, queue: Any) -> None:
    """A multiprocessing target: every visitor, until the plan's end."""
    stats = Stats("visitors")
    asyncio.run(run_reporting(stats, queue, _visitors(plan, stats)))

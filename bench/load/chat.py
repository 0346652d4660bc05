"""Chat latency load: visitor sockets and agents that time every message they get.

Both ends of a message run on this machine, in separate processes, so a message carries
its send time (`time.time()`, one clock for all) in its `client_msg_id`: a visitor's is
`v<µs>-<visitor>-<n>`, an agent's answer `a<µs>-<visitor>-<n>`. The receiver takes the
latency; nothing is matched across processes. The same clients drive the system (the
gateway's widget socket, the dashboard's agent socket and JSON send API) and the
baseline (bench/load/echo.py), which speaks just enough of the same frames.

- visitors: `count` sockets from loopback addresses of their own (15 each); one in
  `stride` of them says something, each every `active / visitor_rate` seconds from a
  random phase (`active` of them in all processes together).
- agents: `agents` signed-in sessions, each with its socket open; a conversation
  belongs to one of them (by a hash of its id), which times the visitor's message and
  answers one in `reply_every` through the send API, at most 6 at once per session
  (a browser's connections to one host).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.load.agent import sign_in

ORIGIN = "http://shop.example"
PER_IP = 15  # under the gateway's 20 sockets and 30 new visitors (burst) per IP
CONNECTS_AT_ONCE = 50
REPLIES_IN_FLIGHT = 6
START_TIMEOUT = 300.0  # a load process whose bench died does not wait forever


@dataclass(frozen=True)
class ChatPlan:
    mode: str  # "system" (Parley) or "baseline" (bench/load/echo.py)
    gateway_url: str  # the widget socket's server
    dashboard_url: str  # the agent socket's and send API's server
    write_key: str
    admin_email: str
    admin_password: str
    visitors: int  # sockets, all processes together
    active: int  # of them talking (one conversation each)
    visitor_rate: float  # visitor messages per second, all visitors together
    reply_every: int  # agents answer one visitor message in this many
    agents: int
    seconds: float  # the measured window
    drain: float  # after it: what arrives still counts, nothing more is sent


@dataclass
class Report:
    """What one load process saw; sent to the bench as a plain dict."""

    role: str
    counts: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "counts": dict(self.counts), "latencies": self.latencies}


def stamp() -> str:
    return str(int(time.time() * 1_000_000))


def age_of(client_msg_id: str) -> float | None:
    """Seconds since the message with this bench id was sent; None for another id."""
    head = client_msg_id[1:].split("-", 1)[0]
    return time.time() - int(head) / 1_000_000 if head.isdigit() else None


class Seen:
    """Messages received, once each: the first copy is timed, later ones are duplicates
    (the same message twice) or doubles (the same client id stored as two messages)."""

    def __init__(self, report: Report, measuring: Any) -> None:
        self.report = report
        self.measuring = measuring  # () -> bool: inside the window + drain
        self.ids: dict[str, str] = {}

    def receive(self, message: dict[str, Any]) -> None:
        cmid, mid = str(message.get("client_msg_id") or ""), str(message.get("id"))
        if cmid in self.ids:
            self.report.counts["duplicates" if self.ids[cmid] == mid else "doubled"] += 1
            return
        self.ids[cmid] = mid
        age = age_of(cmid)
        if age is not None and self.measuring():
            self.report.latencies.append(age)
            self.report.counts["received"] += 1


# --- visitors -------------------------------------------------------------------------
class Visitor:
    def __init__(self, plan: ChatPlan, index: int, stride: int, report: Report) -> None:
        self.plan = plan
        self.index = index
        self.stride = stride
        self.report = report
        self.n = 0
        self.seen = Seen(report, lambda: True)
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.saying: asyncio.Task | None = None

    async def connect(self, session: aiohttp.ClientSession) -> None:
        url = f"{self.plan.gateway_url}/v1/widget/ws?key={self.plan.write_key}"
        for attempt in range(5):
            try:
                self.ws = await session.ws_connect(
                    url, headers={"Origin": ORIGIN}, timeout=aiohttp.ClientWSTimeout(ws_close=5)
                )
                break
            except (aiohttp.ClientError, TimeoutError):
                self.report.counts["connect errors"] += 1
                await asyncio.sleep(0.5 * (attempt + 1))
        if self.ws is None:
            return
        page = {"url": f"{ORIGIN}/chat", "title": "Chat", "referrer": "", "path": "/chat"}
        await self.ws.send_json({"type": "hello", "token": None, "last_seq": 0, "page": page})
        self.report.counts["connected"] += 1

    async def talk(self, begins: float, ends: float) -> None:
        """Say something on schedule until `ends`; read every frame until the drain ends."""
        if self.ws is None:
            return
        if self.index % self.stride == 0:
            self.saying = asyncio.create_task(self._say(begins, ends))
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.on_frame(json.loads(msg.data))
        if time.time() < ends + self.plan.drain:
            self.report.counts[f"closed by the server ({self.ws.close_code})"] += 1

    async def _say(self, begins: float, ends: float) -> None:
        assert self.ws is not None
        interval = self.plan.active / self.plan.visitor_rate
        at = begins + random.uniform(0, interval)
        while at < ends:
            await asyncio.sleep(max(0.0, at - time.time()))
            cmid = f"v{stamp()}-{self.index}-{self.n}"
            self.n += 1
            try:
                await self.ws.send_json({"type": "message", "client_msg_id": cmid, "text": "hi?"})
            except (aiohttp.ClientError, ConnectionError):
                self.report.counts["send errors"] += 1
                return
            self.report.counts["sent"] += 1
            at += interval

    def on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message":
            message = frame.get("message") or {}
            if (message.get("author") or {}).get("kind") == "agent":
                self.seen.receive(message)
        elif kind == "busy":
            self.report.counts["busy frames"] += 1
        elif kind == "error":
            self.report.counts[f"error {frame.get('code')}"] += 1


async def _visitors(plan: ChatPlan, first: int, count: int, go: Any) -> Report:
    """Visitors `first` to `first + count` (of every window: each window's visitors are
    new, from addresses of their own, so no per-IP limit remembers the last window)."""
    report = Report("visitors")
    base = ipaddress.IPv4Address("127.0.0.2") + first // PER_IP
    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(str(base + i), 0), limit=0)
        )
        for i in range((count + PER_IP - 1) // PER_IP)
    ]
    stride = max(1, plan.visitors // plan.active)
    visitors = [Visitor(plan, first + n, stride, report) for n in range(count)]
    try:
        for start in range(0, count, CONNECTS_AT_ONCE):
            chunk = visitors[start : start + CONNECTS_AT_ONCE]
            await asyncio.gather(
                *(v.connect(sessions[(start + i) // PER_IP]) for i, v in enumerate(chunk))
            )
        begins = await _wait_for_go(go)
        ends = begins + plan.seconds
        talking = [asyncio.create_task(v.talk(begins, ends)) for v in visitors]
        await asyncio.sleep(max(0.0, ends + plan.drain - time.time()))
        for v in visitors:
            if v.ws is not None:
                await v.ws.close()
        await asyncio.gather(*talking, return_exceptions=True)
    finally:
        for session in sessions:
            await session.close()
    return report


async def _wait_for_go(go: Any) -> float:
    """Say ready (a multiprocessing Queue), wait for the bench's start (an Event); the
    window's start time."""
    ready, start = go
    ready.put(1)
    if not await asyncio.to_thread(start.wait, START_TIMEOUT):
        raise RuntimeError("the bench never started the window (gone?)")
    return time.time() + 0.5


# --- agents ---------------------------------------------------------------------------
class Agent:
    def __init__(self, plan: ChatPlan, index: int, report: Report) -> None:
        self.plan = plan
        self.index = index
        self.report = report
        self.csrf = ""
        self.in_flight = asyncio.Semaphore(REPLIES_IN_FLIGHT)
        self.ends = float("inf")
        self.seen = Seen(report, lambda: time.time() < self.ends + self.plan.drain)
        self.replies: set[asyncio.Task] = set()
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=REPLIES_IN_FLIGHT + 1),
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            headers={"Origin": self.plan.dashboard_url},
        )
        if self.plan.mode == "system":
            self.csrf = await sign_in(self.session, self.plan)
        self.ws = await self.session.ws_connect(f"{self.plan.dashboard_url}/ws?csrf={self.csrf}")

    def mine(self, conversation_id: str) -> bool:
        return zlib.crc32(conversation_id.encode()) % self.plan.agents == self.index

    async def listen(self, ends: float) -> None:
        assert self.ws is not None
        self.ends = ends
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            message = frame.get("message") if frame.get("type") == "message" else None
            if not message or message["author"]["kind"] != "visitor" or message["internal"]:
                continue
            if not self.mine(message["conversation_id"]):
                continue
            self.seen.receive(message)
            cmid = str(message.get("client_msg_id"))
            if time.time() < ends and cmid.startswith("v") and self._answers(cmid):
                task = asyncio.create_task(self.reply(message["conversation_id"], cmid))
                self.replies.add(task)
                task.add_done_callback(self.replies.discard)

    def _answers(self, cmid: str) -> bool:
        return int(cmid.rsplit("-", 1)[1]) % self.plan.reply_every == 0

    async def reply(self, conversation_id: str, asked: str) -> None:
        assert self.session is not None
        url = f"{self.plan.dashboard_url}/api/conversations/{conversation_id}/messages"
        async with self.in_flight:
            body = {
                "text": "hello, how can I help?",
                "client_msg_id": f"a{stamp()}-{asked.split('-', 1)[1]}",
            }
            self.report.counts["replies sent"] += 1
            try:
                async with self.session.post(
                    url, json=body, headers={"X-CSRF-Token": self.csrf}
                ) as resp:
                    await resp.read()
                    self.report.counts[f"reply {resp.status}"] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.report.counts[f"reply {type(exc).__name__}"] += 1

    async def close(self) -> None:
        if self.replies:
            await asyncio.wait(self.replies, timeout=10)
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()


async def _agents(plan: ChatPlan, go: Any) -> Report:
    report = Report("agents")
    agents = [Agent(plan, n, report) for n in range(plan.agents)]
    try:
        for agent in agents:
            await agent.connect()
        begins = await _wait_for_go(go)
        ends = begins + plan.seconds
        listening = [asyncio.create_task(a.listen(ends)) for a in agents]
        await asyncio.sleep(max(0.0, ends + plan.drain - time.time()))
        for task in listening:
            task.cancel()
        await asyncio.gather(*listening, return_exceptions=True)
    finally:
        for agent in agents:
            await agent.close()
    return report


# --- process targets ------------------------------------------------------------------
def _run(role: str, work: Any, out: Any) -> None:
    try:
        report = asyncio.run(work)
        out.put(report.as_dict())
    except Exception as exc:  # noqa: BLE001 - the bench reports it instead of hanging
        out.put({"role": role, "counts": {f"crashed: {exc!r}": 1}, "latencies": []})


def visitors_main(plan: ChatPlan, first: int, count: int, go: Any, out: Any) -> None:
    """A multiprocessing target: `count` visitors from index `first`; the report on `out`."""
    _run("visitors", _visitors(plan, first, count, go), out)


def agents_main(plan: ChatPlan, go: Any, out: Any) -> None:
    """A multiprocessing target: every agent of the plan; the report on `out`."""
    _run("agents", _agents(plan, go), out)

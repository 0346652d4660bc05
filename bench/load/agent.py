"""The agent: signs in to the dashboard like a person, keeps its live socket open and
answers every visitor message through the dashboard's JSON API (what the page does)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any, Protocol

import aiohttp

from bench.load.plan import LoadPlan, Stats, run_reporting

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
REPLIES_IN_FLIGHT = 6  # a browser's connections to one host


async def _csrf_of(response: aiohttp.ClientResponse) -> str:
    match = CSRF.search(await response.text())
    if not match:
        raise RuntimeError(f"no CSRF field on {response.url} ({response.status})")
    return match.group(1)


class Account(Protocol):
    """Where and as whom to sign in (a LoadPlan, bench/load/chat.py's ChatPlan)."""

    @property
    def dashboard_url(self) -> str: ...
    @property
    def admin_email(self) -> str: ...
    @property
    def admin_password(self) -> str: ...


async def sign_in(session: aiohttp.ClientSession, plan: Account) -> str:
    """Through the sign-in form; the session's CSRF token."""
    async with session.get(f"{plan.dashboard_url}/") as page:
        form = {"email": plan.admin_email, "password": plan.admin_password}
        form["csrf"] = await _csrf_of(page)
    async with session.post(f"{plan.dashboard_url}/login", data=form, allow_redirects=False) as r:
        if r.status != 303:
            raise RuntimeError(f"sign-in refused: {r.status} {await r.text()}")
    async with session.get(f"{plan.dashboard_url}/inbox") as inbox:
        return await _csrf_of(inbox)


class Agent:
    def __init__(self, plan: LoadPlan, session: aiohttp.ClientSession, stats: Stats) -> None:
        self.plan = plan
        self.session = session
        self.stats = stats
        self.csrf = ""
        self.in_flight = asyncio.Semaphore(REPLIES_IN_FLIGHT)
        self.replies: set[asyncio.Task] = set()

    async def run(self) -> None:
        self.csrf = await sign_in(self.session, self.plan)
        while self.plan.left() > 0:
            try:
                ws = await self.session.ws_connect(f"{self.plan.dashboard_url}/ws?csrf={self.csrf}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.stats.error(f"connect {exc!r}")
                await asyncio.sleep(1)
                continue
            self.stats.count("socket opened")
            try:
                await self.listen(ws)
            finally:
                await ws.close()
        if self.replies:
            await asyncio.wait(self.replies, timeout=10)

    async def listen(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while (left := self.plan.left()) > 0:
            try:
                msg = await ws.receive(timeout=left)
            except TimeoutError:
                return
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    self.stats.error(f"socket closed by the dashboard ({ws.close_code})")
                return
            frame = json.loads(msg.data)
            message = frame.get("message") if frame.get("type") == "message" else None
            if message and message["author"]["kind"] == "visitor" and not message["internal"]:
                task = asyncio.create_task(self.reply(message))
                self.replies.add(task)
                task.add_done_callback(self.replies.discard)

    async def reply(self, message: dict[str, Any]) -> None:
        url = f"{self.plan.dashboard_url}/api/conversations/{message['conversation_id']}/messages"
        body = {
            "text": "soak: hi, how can I help?",
            "client_msg_id": f"r-{message['client_msg_id']}",
        }
        async with self.in_flight:
            started = time.monotonic()
            try:
                async with self.session.post(
                    url, json=body, headers={"X-CSRF-Token": self.csrf}
                ) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.stats.error(f"reply {type(exc).__name__}")
                return
        if status == 200:
            self.stats.count("replies sent")
            self.stats.latency("reply post", time.monotonic() - started)
        else:
            self.stats.error(f"reply {status}")


async def _agent(plan: LoadPlan, stats: Stats) -> None:
    # the dashboard's Origin on every call, like its page; cookies for 127.0.0.1 too
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=REPLIES_IN_FLIGHT + 1),  # + the live socket
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        headers={"Origin": plan.dashboard_url},
    ) as session:
        await Agent(plan, session, stats).run()


def main(plan: LoadPlan, queue: Any) -> None:
    """A multiprocessing target: one agent answering every visitor until the plan's end."""
    stats = Stats("agent")
    asyncio.run(run_reporting(stats, queue, _agent(plan, stats)))

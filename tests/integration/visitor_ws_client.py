"""A minimal visitor-socket client for tests: what widget.js does, in Python."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
from yarl import URL

from tests.support import eventually

ORIGIN = "http://shop.example"


class Served(Protocol):
    """What `Visitor.connect` needs of a gateway: a TestServer, or a spawned process's address."""

    def make_url(self, path: str) -> URL: ...


class Visitor:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession):
        self.ws = ws
        self.session = session
        self.frames: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls,
        server: Served,
        key: str,
        *,
        token: str | None = None,
        last_seq: int | None = None,
        continue_token: str | None = None,
        origin: str = ORIGIN,
        hello: bool = True,
    ) -> Visitor:
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(
                server.make_url(f"/v1/widget/ws?key={key}"), headers={"Origin": origin}
            )
        except aiohttp.ClientError:
            await session.close()
            raise
        visitor = cls(ws, session)
        if hello:
            frame = {"type": "hello", "token": token, "last_seq": last_seq, "page": {"url": origin}}
            if continue_token is not None:
                frame["continue_token"] = continue_token
            await visitor.send(frame)
            # a continue link may be refused: its error frame is the answer then
            answers = ("welcome", "error") if continue_token is not None else ("welcome",)
            await visitor.wait_for(lambda f: f["type"] in answers)
        return visitor

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(json.loads(msg.data))
        self.closed.set()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def say(self, text: str, client_msg_id: str | None = None) -> str:
        cmid = client_msg_id or "c" + uuid.uuid4().hex
        await self.send({"type": "message", "client_msg_id": cmid, "text": text})
        return cmid

    async def wait_for(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        async def seen() -> bool:
            found[:] = [f for f in self.frames if match(f)]
            return bool(found)

        await eventually(seen, timeout=timeout)
        return found[0]

    def matching(self, match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [f for f in self.frames if match(f)]

    @property
    def welcome(self) -> dict[str, Any]:
        return next(f for f in self.frames if f["type"] == "welcome")

    def messages(self) -> list[dict[str, Any]]:
        """Every chat message seen (history and live), de-duplicated by id, in seq order."""
        seen: dict[str, dict[str, Any]] = {}
        for f in self.frames:
            if f["type"] == "message":
                seen[f["message"]["id"]] = f["message"]
            elif f["type"] == "history":
                for m in f["messages"]:
                    seen[m["id"]] = m
        return sorted(seen.values(), key=lambda m: m["seq"])

    async def close(self) -> None:
        await self.ws.close()
        await self._reader
        await self.session.close()

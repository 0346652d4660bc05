"""A real HTTP receiver for the webhook tests, and the Standard Webhooks check written
from the spec (standardwebhooks.com), independent of services/webhooks/signing.py."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from shared.bus import Bus
from tests.support import eventually

TOLERANCE_S = 300


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The spec's receiver check: any `v1,` signature matches, the timestamp is recent."""
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > TOLERANCE_S:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, sig = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """Answers `fail_first` attempts of each webhook-id with `fail_status`, then 200
    (`fail_first=-1`: fails every one)."""

    fail_first: int = 0
    fail_status: int = 503
    slow_s: float = 0.0  # how long each answer takes
    slow_failing_s: float = 0.0  # how long each failing answer takes (past a time-out)
    got: list[Received] = field(default_factory=list)
    active: int = 0  # requests being answered now
    most_active: int = 0
    runner: web.AppRunner | None = None
    port: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.got.append(Received(headers, body))
        tries = sum(1 for r in self.got if r.id == headers.get("webhook-id"))
        failing = self.fail_first < 0 or tries <= self.fail_first
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            if failing and self.slow_failing_s:
                await asyncio.sleep(self.slow_failing_s)
            elif self.slow_s:
                await asyncio.sleep(self.slow_s)
        finally:
            self.active -= 1
        if failing:
            return web.Response(status=self.fail_status, text="not now " * 200)
        return web.Response(text="ok")

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def of_type(self, kind: str) -> list[Received]:
        return [r for r in self.got if r.event["type"] == kind]

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 15) -> list[Received]:
        async def arrived() -> bool:
            return len(self.of_type(kind)) >= count

        await eventually(arrived, timeout=timeout)
        return self.of_type(kind)


async def hooks(bus: Bus, verb: str, **payload: Any) -> Any:
    return await bus.request(
        bus.subjects.request("webhooks", verb), {"workspace_id": "default", **payload}
    )

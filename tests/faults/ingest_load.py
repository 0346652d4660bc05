"""Ingest under a fault: a steady Segment backend, and what identity stored of it."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from pymongo import MongoClient

from services.gateway.app import create_app
from shared.settings import Settings
from tests.faults.conftest import Spawn
from tests.faults.harness import Ledger, ServiceProcess
from tests.support import basic_auth, eventually


async def post_steadily(url: str, key: str, run: str, ledger: Ledger, seconds: float) -> None:
    """One single-event batch every 20 ms; a non-200 is counted, and the event retried later."""
    retry_after_missing = 0
    pending: list[str] = []
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(headers=basic_auth(key), timeout=timeout) as session:
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end or pending:
            if time.monotonic() < end:
                pending.append(f"{run}-{n:05d}")
                ledger.sent.append(pending[-1])
                n += 1
            mid = pending.pop(0)
            body = {
                "batch": [
                    {"type": "track", "userId": f"{run}-u", "event": "Tick", "messageId": mid}
                ]
            }
            try:
                async with session.post(url + "/v1/batch", json=body) as resp:
                    if resp.status == 200:
                        ledger.acked.add(mid)
                    else:
                        ledger.refused[resp.status] += 1
                        retry_after_missing += "Retry-After" not in resp.headers
                        pending.append(mid)
            except (aiohttp.ClientError, TimeoutError):
                ledger.refused["no answer"] += 1
                pending.append(mid)
            await asyncio.sleep(0.02)
    ledger.refused["503 without Retry-After"] = retry_after_missing


def stored_ids(settings: Settings, run: str) -> list[str]:
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_url)
    try:
        events = client[settings.database_name("identity")].events
        query = {"message_id": {"$regex": f"^{run}-"}}
        return [d["message_id"] for d in events.find(query, {"message_id": 1})]
    finally:
        client.close()


@dataclass
class FaultRun:
    figures: dict[str, int]
    ledger: Ledger
    recovery: float
    identity: ServiceProcess


async def wait_stored(
    settings: Settings, run: str, ledger: Ledger, timeout: float = 60
) -> dict[str, int]:
    """Wait (bounded) until every acknowledged event is stored; the ledger's figures then."""

    async def all_stored() -> bool:
        return set(stored_ids(settings, run)) >= ledger.acked

    with contextlib.suppress(AssertionError):  # what is missing shows in the figures
        await eventually(all_stored, timeout=timeout, every=0.25)
    return ledger.report(stored_ids(settings, run))


async def ingest_through(
    aiohttp_server: Any,
    env: dict[str, str],
    spawn: Spawn,
    fault: Callable[[ServiceProcess], Awaitable[float]],
    seconds: float = 6,
) -> FaultRun:
    """Post steadily through a gateway to identity for `seconds`; `fault` strikes after
    1.5 s and returns its recovery time; then wait until what was acknowledged is stored."""
    settings = Settings.from_env(env)
    gateway = await aiohttp_server(create_app(settings))
    identity = spawn("identity", env)
    await identity.ready()
    run = uuid.uuid4().hex[:8]
    ledger = Ledger()
    load = asyncio.create_task(
        post_steadily(f"http://127.0.0.1:{gateway.port}", settings.secret_key, run, ledger, seconds)
    )
    await asyncio.sleep(1.5)
    recovery = await fault(identity)
    await load
    figures = await wait_stored(settings, run, ledger, timeout=90)
    return FaultRun(figures, ledger, recovery, identity)

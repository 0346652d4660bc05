"""kill -9 of identity while events are ingested: every acknowledged event applied once."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import pytest

from services.gateway.app import create_app
from shared.settings import Settings
from tests.faults.conftest import Spawn
from tests.faults.harness import Ledger, say
from tests.faults.ingest_load import wait_stored
from tests.support import basic_auth

pytestmark = pytest.mark.slow

USERS = 40
BATCHES = 60
PER_BATCH = 10


def batch_of(run: str, n: int) -> list[dict]:
    return [
        {
            "type": "track",
            "userId": f"{run}-user-{(n * PER_BATCH + i) % USERS}",
            "event": "Viewed Plan",
            "messageId": f"{run}-{n}-{i}",
            "properties": {"n": n},
        }
        for i in range(PER_BATCH)
    ]


async def post_batches(url: str, key: str, run: str, ledger: Ledger) -> None:
    """A steady backend: one batch every 0.1 s, each retried on a 5xx as Segment's client does."""
    async with aiohttp.ClientSession(headers=basic_auth(key)) as session:
        for n in range(BATCHES):
            batch = batch_of(run, n)
            ledger.sent += [m["messageId"] for m in batch]
            for _attempt in range(20):
                async with session.post(url + "/v1/batch", json={"batch": batch}) as resp:
                    if resp.status == 200:
                        ledger.acked.update(m["messageId"] for m in batch)
                        break
                    ledger.refused[resp.status] += 1
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.1)


async def test_kill_9_identity_twice_during_ingest_loses_and_doubles_nothing(
    aiohttp_server, settings: Settings, spawn: Spawn
) -> None:
    gateway = await aiohttp_server(create_app(settings))
    identity = spawn("identity")
    await identity.ready()
    run = uuid.uuid4().hex[:8]
    ledger = Ledger()
    url = f"http://127.0.0.1:{gateway.port}"

    load = asyncio.create_task(post_batches(url, settings.secret_key, run, ledger))
    recoveries = await identity.crash_and_restart(2, every=1.5)
    await load

    started = time.monotonic()
    figures = await wait_stored(settings, run, ledger)
    say(
        "kill -9 identity x2",
        {
            **figures,
            "restart to ready s": recoveries,
            "drain s": round(time.monotonic() - started, 1),
        },
    )

    assert figures["acknowledged"] == BATCHES * PER_BATCH  # the gateway never depended on identity
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0

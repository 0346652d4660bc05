"""nats-server killed (-9) or stopped (SIGSTOP) during ingest, on a private server.

What a Segment client sees: a 200 only for what JetStream stored, a 503 with
`Retry-After` for the rest (never a 200 for an event that was not stored), and
once NATS is back every acknowledged event reaches identity, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from pymongo import MongoClient

from services.gateway.app import create_app
from shared.embedded import EmbeddedServer, free_port, start_nats
from shared.settings import Settings
from tests.conftest import Servers, make_env
from tests.faults.conftest import Spawn
from tests.faults.harness import Ledger, say
from tests.support import basic_auth, eventually

pytestmark = pytest.mark.slow


class PrivateNats:
    """A nats-server of the test's own, on a fixed port and data dir so it can come back."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.server: EmbeddedServer = start_nats(data, self.port)

    @property
    def process(self) -> subprocess.Popen:
        return self.server.process

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def restart(self) -> None:
        self.server = start_nats(self.data, self.port)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGCONT)
        self.server.stop()


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    nats = PrivateNats(tmp_path / "nats-private")
    yield nats
    nats.stop()


@pytest.fixture
def nats_env(servers: Servers, private_nats: PrivateNats, tmp_path: Path) -> dict[str, str]:
    own = Servers(private_nats.server, servers.mongo, servers.data_dir)
    return make_env(own, tmp_path / "data")


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
    client = MongoClient(settings.mongo_url)
    try:
        events = client[settings.database_name("identity")].events
        query = {"message_id": {"$regex": f"^{run}-"}}
        return [d["message_id"] for d in events.find(query, {"message_id": 1})]
    finally:
        client.close()


async def run_fault(
    aiohttp_server,
    nats_env: dict[str, str],
    spawn: Spawn,
    fault,
) -> tuple[dict[str, int], Ledger, float]:
    settings = Settings.from_env(nats_env)
    gateway = await aiohttp_server(create_app(settings))
    identity = spawn("identity", nats_env)
    await identity.ready()
    run = uuid.uuid4().hex[:8]
    ledger = Ledger()
    load = asyncio.create_task(
        post_steadily(f"http://127.0.0.1:{gateway.port}", settings.secret_key, run, ledger, 6)
    )
    await asyncio.sleep(1.5)
    recovery = await fault()
    await load

    async def all_stored() -> bool:
        return set(stored_ids(settings, run)) >= ledger.acked

    with contextlib.suppress(AssertionError):
        await eventually(all_stored, timeout=60, every=0.25)
    return ledger.report(stored_ids(settings, run)), ledger, recovery


async def test_kill_9_nats_during_ingest(
    aiohttp_server, nats_env: dict[str, str], spawn: Spawn, private_nats: PrivateNats
) -> None:
    async def fault() -> float:
        private_nats.kill()
        await asyncio.sleep(7)  # longer than the gateway's 5 s wait for a JetStream ack
        started = time.monotonic()
        private_nats.restart()
        return time.monotonic() - started

    figures, ledger, recovery = await run_fault(aiohttp_server, nats_env, spawn, fault)
    say("kill -9 nats-server", {**figures, **dict(ledger.refused), "restart s": round(recovery, 2)})
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert figures["acknowledged"] == figures["sent"]  # every event got its 200 in the end
    assert ledger.refused[503] > 0  # the outage was told to clients as 503s
    assert ledger.refused["503 without Retry-After"] == 0
    assert ledger.refused.get(200, 0) == 0


async def test_sigstop_nats_during_ingest(
    aiohttp_server, nats_env: dict[str, str], spawn: Spawn, private_nats: PrivateNats
) -> None:
    async def fault() -> float:
        private_nats.process.send_signal(signal.SIGSTOP)
        await asyncio.sleep(3)
        private_nats.process.send_signal(signal.SIGCONT)
        return 3.0

    figures, ledger, _ = await run_fault(aiohttp_server, nats_env, spawn, fault)
    say("SIGSTOP nats-server 3 s", {**figures, **dict(ledger.refused)})
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert figures["acknowledged"] == figures["sent"]
    assert ledger.refused["503 without Retry-After"] == 0

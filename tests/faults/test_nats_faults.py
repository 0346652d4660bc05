"""nats-server killed (-9) or stopped (SIGSTOP) during ingest, on a private server.

What a Segment client sees: a 200 only for what JetStream stored, a 503 with
`Retry-After` for the rest (never a 200 for an event that was not stored), and
once NATS is back every acknowledged event reaches identity, once.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.embedded import start_nats
from tests.conftest import Servers, make_env
from tests.faults.conftest import Spawn
from tests.faults.harness import PrivateServer, ServiceProcess, say
from tests.faults.ingest_load import ingest_through

pytestmark = pytest.mark.slow


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateServer]:
    nats = PrivateServer(start_nats, tmp_path / "nats-private")
    yield nats
    nats.stop()


@pytest.fixture
def nats_env(servers: Servers, private_nats: PrivateServer, tmp_path: Path) -> dict[str, str]:
    own = Servers(private_nats.server, servers.mongo, servers.data_dir)
    return make_env(own, tmp_path / "data")


async def test_kill_9_nats_during_ingest(
    aiohttp_server, nats_env: dict[str, str], spawn: Spawn, private_nats: PrivateServer
) -> None:
    async def fault(_identity: ServiceProcess) -> float:
        private_nats.kill()
        await asyncio.sleep(7)  # longer than the gateway's 5 s wait for a JetStream ack
        started = time.monotonic()
        private_nats.restart()
        return time.monotonic() - started

    run = await ingest_through(aiohttp_server, nats_env, spawn, fault)
    figures, ledger, recovery = run.figures, run.ledger, run.recovery
    say("kill -9 nats-server", {**figures, **dict(ledger.refused), "restart s": round(recovery, 2)})
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert figures["acknowledged"] == figures["sent"]  # every event got its 200 in the end
    assert ledger.refused[503] > 0  # the outage was told to clients as 503s
    assert ledger.refused["503 without Retry-After"] == 0
    assert ledger.refused.get(200, 0) == 0


async def test_sigstop_nats_during_ingest(
    aiohttp_server, nats_env: dict[str, str], spawn: Spawn, private_nats: PrivateServer
) -> None:
    async def fault(_identity: ServiceProcess) -> float:
        private_nats.process.send_signal(signal.SIGSTOP)
        await asyncio.sleep(3)
        private_nats.process.send_signal(signal.SIGCONT)
        return 3.0

    run = await ingest_through(aiohttp_server, nats_env, spawn, fault)
    figures, ledger = run.figures, run.ledger
    say("SIGSTOP nats-server 3 s", {**figures, **dict(ledger.refused)})
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert figures["acknowledged"] == figures["sent"]
    assert ledger.refused["503 without Retry-After"] == 0

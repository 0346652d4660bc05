"""The database killed (-9) during ingest, on a private SecantusDB: every acknowledged event kept.

The audit's reproduction: kill -9 of SecantusDB at ~80 events/s lost a batch that
JetStream had acknowledged and identity had acked after a write that was not
durable. With journaled writes and the embedded server syncing on commit, the
events identity acknowledged survive the crash, and what it had not acknowledged
is redelivered once the server is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.embedded import start_mongo
from tests.conftest import Servers, make_env
from tests.faults.conftest import Spawn
from tests.faults.harness import PrivateServer, ServiceProcess, say
from tests.faults.ingest_load import ingest_through

pytestmark = pytest.mark.slow


@pytest.fixture
def private_mongo(tmp_path: Path) -> Iterator[PrivateServer]:
    mongo = PrivateServer(start_mongo, tmp_path / "mongo-private")
    yield mongo
    mongo.stop()


async def test_kill_9_of_the_database_during_ingest_keeps_every_acknowledged_event(
    private_mongo: PrivateServer, aiohttp_server, servers: Servers, spawn: Spawn, tmp_path: Path
) -> None:
    env = make_env(Servers(servers.nats, private_mongo.server, servers.data_dir), tmp_path / "d")

    async def fault(identity: ServiceProcess) -> float:
        private_mongo.kill()
        await asyncio.sleep(2)
        started = time.monotonic()
        private_mongo.restart()
        await identity.ready(timeout=60)
        return time.monotonic() - started

    run = await ingest_through(aiohttp_server, env, spawn, fault, seconds=8)
    figures = run.figures
    say("kill -9 database", {**figures, "restart to identity ready s": round(run.recovery, 2)})
    assert figures["acknowledged"] == figures["sent"]  # ingest never depended on the database
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert "dead-lettered" not in run.identity.log_text()

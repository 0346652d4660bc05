"""The database killed (-9) during ingest, on a private SecantusDB: every acknowledged event kept.

The audit's reproduction: kill -9 of SecantusDB at ~80 events/s lost a batch that
JetStream had acknowledged and identity had acked after a write that was not
durable. With journaled writes and the embedded server syncing on commit, the
events identity acknowledged survive the crash, and what it had not acknowledged
is redelivered once the server is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.gateway.app import create_app
from shared.embedded import EmbeddedServer, free_port, start_mongo
from shared.settings import Settings
from tests.conftest import Servers, make_env
from tests.faults.conftest import Spawn
from tests.faults.harness import Ledger, say
from tests.faults.test_nats_faults import post_steadily, stored_ids
from tests.support import eventually

pytestmark = pytest.mark.slow


class PrivateMongo:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.server: EmbeddedServer = start_mongo(data, self.port)

    def kill(self) -> None:
        self.server.process.send_signal(signal.SIGKILL)
        self.server.process.wait(10)

    def restart(self) -> None:
        self.server = start_mongo(self.data, self.port)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.server.process.send_signal(signal.SIGCONT)
        self.server.stop()


@pytest.fixture
def private_mongo(tmp_path: Path) -> Iterator[PrivateMongo]:
    mongo = PrivateMongo(tmp_path / "mongo-private")
    yield mongo
    mongo.stop()


async def test_kill_9_of_the_database_during_ingest_keeps_every_acknowledged_event(
    private_mongo: PrivateMongo, aiohttp_server, servers: Servers, spawn: Spawn, tmp_path: Path
) -> None:
    env = make_env(Servers(servers.nats, private_mongo.server, servers.data_dir), tmp_path / "d")
    settings = Settings.from_env(env)
    gateway = await aiohttp_server(create_app(settings))
    identity = spawn("identity", env)
    await identity.ready()
    run = uuid.uuid4().hex[:8]
    ledger = Ledger()
    load = asyncio.create_task(
        post_steadily(f"http://127.0.0.1:{gateway.port}", settings.secret_key, run, ledger, 8)
    )
    await asyncio.sleep(2)
    private_mongo.kill()
    await asyncio.sleep(2)
    started = time.monotonic()
    private_mongo.restart()
    await identity.ready(timeout=60)
    recovery = time.monotonic() - started
    await load

    async def all_stored() -> bool:
        return set(stored_ids(settings, run)) >= ledger.acked

    with contextlib.suppress(AssertionError):
        await eventually(all_stored, timeout=90, every=0.5)
    figures = ledger.report(stored_ids(settings, run))
    say("kill -9 database", {**figures, "restart to identity ready s": round(recovery, 2)})
    assert figures["acknowledged"] == figures["sent"]  # ingest never depended on the database
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert "dead-lettered" not in identity.log_text()

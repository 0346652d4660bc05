"""Acknowledged writes survive kill -9 of SecantusDB (issue 9.2).

Before: the embedded server ran without `--sync-on-commit` and the services wrote with
the default write concern, so a crash lost the last acknowledged batches (events JetStream
had already been told were applied). Each fix alone closes the gap; each is tested alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient

from shared import db
from shared.embedded import start_mongo
from tests.integration.durability_support import (
    acked_then_crash,
    fresh_port,
    start_fast_mongo,
    surviving,
)


async def test_the_embedded_server_keeps_acknowledged_writes_through_a_crash(
    tmp_path: Path,
) -> None:
    port = fresh_port()
    server = start_mongo(tmp_path, port)
    client: AsyncIOMotorClient[dict[str, Any]]
    client = AsyncIOMotorClient(server.url)  # the driver's default write concern
    acked = await acked_then_crash(server, client)
    client.close()
    assert len(acked) > 1000, "the crash came before the writes got going"
    kept = await surviving(tmp_path, port, acked)
    assert len(acked - kept) == 0, f"{len(acked - kept)} of {len(acked)} acknowledged lost"


async def test_the_services_write_concern_keeps_acknowledged_writes_through_a_crash(
    tmp_path: Path,
) -> None:
    port = fresh_port()
    server = start_fast_mongo(tmp_path, port)  # a server that does not sync on its own
    client = db.connect(server.url)
    acked = await acked_then_crash(server, client)
    client.close()
    assert len(acked) > 1000, "the crash came before the writes got going"
    kept = await surviving(tmp_path, port, acked, start_fast_mongo)
    assert len(acked - kept) == 0, f"{len(acked - kept)} of {len(acked)} acknowledged lost"


def test_write_concern_defaults_give_way_to_the_url() -> None:
    assert db.durability_options("mongodb://h/?directConnection=true") == {"journal": True}
    assert db.durability_options("mongodb://a,b/?replicaSet=rs0") == {
        "journal": True,
        "w": "majority",
    }
    assert db.durability_options("mongodb://h/?journal=false") == {}
    assert db.durability_options("mongodb://a,b/?replicaSet=rs0&w=1") == {"journal": True}

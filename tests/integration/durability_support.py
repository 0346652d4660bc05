"""Crash a SecantusDB in the middle of acknowledged writes and count what survived."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient

from shared.embedded import EmbeddedServer, free_port, start_mongo

WRITERS = 8
BATCH = 20
CRASH_AFTER = 2.0  # seconds of writes before kill -9


def start_fast_mongo(data_dir: Path, port: int) -> EmbeddedServer:
    """SecantusDB as it ran before: no fsync of its log on commit."""
    return start_mongo(data_dir, port, sync_on_commit=False)


async def acked_then_crash(server: EmbeddedServer, client: AsyncIOMotorClient) -> set[int]:
    """Insert from several writers until the server is killed; the ids it acknowledged."""
    collection = client.durability.writes
    await collection.insert_one({"_id": -1})
    acked: set[int] = set()
    counter = iter(range(10**9))

    async def writer() -> None:
        while True:  # batches, as the consumers write (single inserts are synced anyway)
            ids = [next(counter) for _ in range(BATCH)]
            try:
                await collection.insert_many([{"_id": n, "pad": "x" * 200} for n in ids])
            except Exception:  # noqa: BLE001 - the server is gone: this writer is done
                return
            acked.update(ids)

    writers = [asyncio.create_task(writer()) for _ in range(WRITERS)]
    await asyncio.sleep(CRASH_AFTER)
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    for task in writers:  # an insert in flight now was never acknowledged
        task.cancel()
    await asyncio.gather(*writers, return_exceptions=True)
    return set(acked)


async def surviving(
    data_dir: Path, port: int, ids: set[int], start: Callable[..., EmbeddedServer] = start_mongo
) -> set[int]:
    server = start(data_dir, port)
    client: AsyncIOMotorClient[dict[str, Any]]
    client = AsyncIOMotorClient(server.url, serverSelectionTimeoutMS=10000)
    try:
        found = {d["_id"] async for d in client.durability.writes.find({}, {"_id": 1})}
    finally:
        client.close()
        server.stop()
    return ids & found


def fresh_port() -> int:
    return free_port()

"""Background work keeps a reference, logs its failure, and retries where it matters (8.12)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from services.chat.live import Live
from services.chat.profiles import ProfileResolver
from services.chat.store import ChatStore, new_conversation
from shared import clock, db
from shared.bus import Bus
from shared.dialect import SECANTUS
from shared.embedded import free_port, start_mongo
from shared.settings import Settings
from shared.tasks import BackgroundTasks
from tests.support import eventually

FAST_FAILING = "&serverSelectionTimeoutMS=1000&socketTimeoutMS=1000&connectTimeoutMS=1000"


async def test_a_failing_background_task_is_held_until_done_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = BackgroundTasks(logging.getLogger("parley.test"), "test work")
    gate = asyncio.Event()

    async def work() -> None:
        await gate.wait()
        raise RuntimeError("the work broke")

    with caplog.at_level(logging.ERROR, logger="parley.test"):
        tasks.start(work(), key="k")
        tasks.start(work(), key="k")  # already running: not started twice
        assert len(tasks) == 1
        gate.set()
        await asyncio.sleep(0.05)
    assert len(tasks) == 0
    failures = [r for r in caplog.records if r.getMessage() == "test work failed"]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert "the work broke" in str(failures[0].exc_info[1])


async def test_a_conversation_gets_its_profile_id_after_the_database_comes_back(
    tmp_path: Path, settings: Settings, bus: Bus
) -> None:
    async def resolve(payload: dict) -> dict:
        return {"id": "person-1"}

    await bus.serve(bus.subjects.request("identity", "profile.resolve"), resolve, queue="identity")
    port = free_port()
    server = start_mongo(tmp_path, port)
    client = db.connect(server.url + FAST_FAILING)
    store = ChatStore(client[settings.database_name("chat")], SECANTUS)
    conversation = new_conversation("ws1", "v-1", "v-1", clock.now())
    await store.conversations.insert_one(conversation)
    resolver = ProfileResolver(bus, store, Live(bus), delays=(0.0,) + (1.0,) * 10)
    try:
        os.kill(server.process.pid, signal.SIGKILL)  # the database crashes
        server.process.wait()
        resolver.schedule(conversation)
        await asyncio.sleep(3)  # the first updates fail: nothing listens on the port
        server = start_mongo(tmp_path, port)

        async def resolved() -> bool:
            doc = await store.conversations.find_one({"_id": conversation["_id"]})
            return doc is not None and doc["profile_id"] == "person-1"

        await eventually(resolved, timeout=15)
    finally:
        await resolver.close()
        client.close()
        server.stop()

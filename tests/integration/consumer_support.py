"""Helpers for the consumer-loop tests: stopping test-owned servers, reading the streams."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator

import aiohttp
from aiohttp.test_utils import TestServer

from shared.bus import Bus
from shared.embedded import EmbeddedServer
from shared.metrics import REGISTRY


@contextlib.asynccontextmanager
async def stopped(server: EmbeddedServer) -> AsyncIterator[None]:
    """SIGSTOP a test-owned server for the block: it holds its sockets and answers nothing."""
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


def consumed(service: str, consumer: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "parley_events_consumed_total",
        {"service": service, "consumer": consumer, "outcome": outcome},
    )
    return value or 0.0


async def dead_letters(bus: Bus, consumer: str) -> int:
    assert bus.js is not None
    info = await bus.js.stream_info(
        bus.subjects.deadletter_stream, subjects_filter=bus.subjects.deadletter(consumer)
    )
    return sum((info.state.subjects or {}).values())


async def readyz(server: TestServer) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{server.port}/readyz") as resp:
            return resp.status, await resp.json()


async def publish_raw(bus: Bus, subject: str, bodies: list[bytes], prefix: str) -> None:
    """Store raw bodies on a stream, in windows of 500 (the gateway never sends these)."""
    assert bus.js is not None
    js = bus.js
    for start in range(0, len(bodies), 500):
        await asyncio.gather(
            *(
                js.publish(subject, body, headers={"Nats-Msg-Id": f"{prefix}-{start + i}"})
                for i, body in enumerate(bodies[start : start + 500])
            )
        )

"""The lag, redeliveries and dead letters of a service's JetStream consumers, as metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from shared import metrics
from shared.bus import Bus
from shared.web.keys import WATCHED_CONSUMERS

log = logging.getLogger("parley.web")

# how often consuming services read their consumers' lag from JetStream
CONSUMER_STATS_EVERY = 5.0


def watch_consumers(app: web.Application, *consumers: tuple[str, str]) -> None:
    """Report these (stream, durable) consumers' lag, redeliveries and dead letters."""
    app[WATCHED_CONSUMERS].extend(consumers)


async def read_consumer_stats(bus: Bus, consumers: list[tuple[str, str]]) -> None:
    assert bus.js is not None
    for stream, durable in consumers:
        try:
            info = await bus.js.consumer_info(stream, durable, timeout=2)
        except Exception as exc:  # noqa: BLE001 - not created yet, or NATS restarting
            log.debug("no consumer info for %s: %r", durable, exc)
            continue
        labels = (bus.service, durable)
        metrics.CONSUMER_PENDING.labels(*labels).set(info.num_pending or 0)
        metrics.CONSUMER_ACK_PENDING.labels(*labels).set(info.num_ack_pending or 0)
        metrics.CONSUMER_REDELIVERED.labels(*labels).set(info.num_redelivered or 0)
        subject = bus.subjects.deadletter(durable)
        with contextlib.suppress(Exception):
            dead = await bus.js.stream_info(bus.subjects.deadletter_stream, subject)
            metrics.DEAD_LETTERS.labels(*labels).set(sum((dead.state.subjects or {}).values()))


async def consumer_stats_loop(bus: Bus, consumers: list[tuple[str, str]]) -> None:
    while True:
        await read_consumer_stats(bus, consumers)
        await asyncio.sleep(CONSUMER_STATS_EVERY)

"""The durable `identity` consumer: fetch a batch, apply it in one go, ack; else one by one.

Semantics match `Bus.consume`: an event that can never apply (bad schema, illegal
id) goes to the dead-letter subject with its reason and is acked; a batch that
fails for a transient reason is retried message by message through the bus's own
handler, which naks with backoff and dead-letters after the last attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from nats.errors import TimeoutError as NatsTimeout

from services.identity.processor import Item, Processor
from shared.bus import Bus, decode
from shared.errors import PermanentError
from shared.metrics import EVENTS_CONSUMED

log = logging.getLogger("parley.identity.consumer")

DURABLE = "identity"
BATCH = 200


async def run(bus: Bus, processor: Processor, batch: int = BATCH) -> None:
    s = bus.subjects
    sub = None
    try:
        while True:
            try:
                if sub is None:
                    sub = await bus.durable_consumer(s.events_stream, DURABLE, s.events_all)
                msgs = await sub.fetch(batch, timeout=1)
            except (TimeoutError, NatsTimeout):
                continue  # nothing to do yet (a busy loop may time out in asyncio itself)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS restarting: wait, subscribe again
                log.warning("identity consumer cannot fetch: %r", exc)
                if sub is not None:  # a leaked subscription would stall drain() at shutdown
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                sub = None
                await asyncio.sleep(1)
                continue
            await handle_batch(bus, processor, msgs)
    finally:
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


async def handle_batch(bus: Bus, processor: Processor, msgs: list[Any]) -> None:
    ready: list[tuple[Any, Item]] = []
    for msg in msgs:
        try:
            payload = decode(msg.data)
            if not isinstance(payload, dict):
                raise PermanentError("payload is not a JSON object", code="bad_payload")
            ready.append((msg, processor.prepare(payload)))
        except PermanentError as exc:
            await _dead(bus, msg, exc.code, str(exc))
        except ValueError as exc:
            await _dead(bus, msg, "bad_payload", str(exc))
    if not ready:
        return
    try:
        await processor.process([item for _, item in ready])
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - redo one by one: the bus naks or dead-letters
        log.warning("batch of %d failed (%r), applying one by one", len(ready), exc)
        for msg, item in ready:

            async def one(_: dict[str, Any], item: Item = item) -> None:
                await processor.process([item])

            await bus._handle(DURABLE, msg, one)  # noqa: SLF001 - the bus's ack/nak/dead-letter rules
        return
    for msg, _ in ready:
        await msg.ack()
    EVENTS_CONSUMED.labels(bus.service, DURABLE, "ok").inc(len(ready))


async def _dead(bus: Bus, msg: Any, code: str, reason: str) -> None:
    await bus.dead_letter(DURABLE, msg, code, reason)
    await msg.ack()
    EVENTS_CONSUMED.labels(bus.service, DURABLE, "dead_letter").inc()

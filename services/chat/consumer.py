"""The durable `chat` consumer: fetch a batch of inbound messages, apply it in one go, ack.

Semantics match `Bus.consume`: a message that can never apply goes to the
dead-letter subject with its reason and is acked; a batch that fails for a
transient reason is redone one message at a time, in order, through the bus's
own handler, which naks with backoff and dead-letters after the last attempt.
Batches run one after another, so a conversation's messages keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from nats.errors import TimeoutError as NatsTimeout

from services.chat.context import ChatContext
from services.chat.inbound import Inbound, apply_inbound, handle_inbound, parse_inbound
from shared.bus import decode
from shared.errors import PermanentError
from shared.metrics import EVENTS_CONSUMED

log = logging.getLogger("parley.chat.consumer")

DURABLE = "chat"
BATCH = 200


async def run(ctx: ChatContext, batch: int = BATCH) -> None:
    bus = ctx.bus
    s = bus.subjects
    sub = None
    try:
        while True:
            try:
                if sub is None:
                    sub = await bus.durable_consumer(s.chat_stream, DURABLE, s.chat_inbound_all)
                msgs = await sub.fetch(batch, timeout=1)
            except (TimeoutError, NatsTimeout):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS restarting: wait, subscribe again
                log.warning("chat consumer cannot fetch: %r", exc)
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                sub = None
                await asyncio.sleep(1)
                continue
            await handle_batch(ctx, msgs)
    finally:
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


async def handle_batch(ctx: ChatContext, msgs: list[Any]) -> None:
    ready: list[tuple[Any, Inbound]] = []
    for msg in msgs:
        try:
            payload = decode(msg.data)
            if not isinstance(payload, dict):
                raise PermanentError("payload is not a JSON object", code="bad_payload")
            ready.append((msg, parse_inbound(ctx, payload)))
        except PermanentError as exc:
            await _dead(ctx, msg, exc.code, str(exc))
        except ValueError as exc:
            await _dead(ctx, msg, "bad_payload", str(exc))
    if not ready:
        return
    try:
        await apply_inbound(ctx, [item for _, item in ready])
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - redo one by one: the bus naks or dead-letters
        log.warning("batch of %d failed (%r), applying one by one", len(ready), exc)
        for msg, _ in ready:

            async def one(payload: dict[str, Any]) -> None:
                await handle_inbound(ctx, payload)

            await ctx.bus._handle(DURABLE, msg, one)  # noqa: SLF001 - the bus's ack/nak rules
        return
    for msg, _ in ready:
        await msg.ack()
    EVENTS_CONSUMED.labels(ctx.bus.service, DURABLE, "ok").inc(len(ready))


async def _dead(ctx: ChatContext, msg: Any, code: str, reason: str) -> None:
    await ctx.bus.dead_letter(DURABLE, msg, code, reason)
    await msg.ack()
    EVENTS_CONSUMED.labels(ctx.bus.service, DURABLE, "dead_letter").inc()

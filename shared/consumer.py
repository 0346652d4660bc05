"""The durable consumer loop: fetch, decode, apply, settle, until the bus closes.

Rules (docs/bus-contract.md, "Durable consumers"):
- A payload that is not a JSON object, or that `prepare` refuses with
  `PermanentError`, is dead-lettered at once.
- A server that does not answer (database or NATS unreachable, see
  `is_infrastructure_error`) is not the message's fault: the consumer keeps the
  messages it holds (their ack deadline extended with `in_progress()`), stops
  fetching, reports not ready and retries the same step until the server answers.
  No delivery is spent, so an outage of any length dead-letters nothing.
- Any other failure (a handler's bug included) naks with backoff and counts toward
  `MAX_DELIVER`; only then is the message dead-lettered as `retries_exhausted`.
- The loop itself survives anything it raises: logged, counted, retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout

from shared.errors import PermanentError, is_infrastructure_error
from shared.metrics import (
    CONSUMER_LOOP_ERRORS,
    EVENTS_CONSUMED,
    HANDLER_ERRORS,
    HANDLER_LATENCY,
)

if TYPE_CHECKING:
    from shared.bus import Bus

log = logging.getLogger("parley.bus")

MAX_DELIVER = 8  # deliveries that fail on the message's own account before dead-lettering
NAK_BACKOFF = (0.5, 1, 2, 5, 10, 30, 60)
OUTAGE_BACKOFF = (0.5, 1, 2, 5)  # retrying a step while a server does not answer
LOOP_BACKOFF = (0.5, 1, 2, 5, 10)  # after the loop's own unexpected failure
# What a crashed worker held comes back after ACK_WAIT: short, so a kill -9 costs seconds
# (it was 30 s); a live worker keeps what it holds with in_progress() meanwhile.
ACK_WAIT = 10.0
KEEPALIVE_EVERY = ACK_WAIT / 3  # seconds between in_progress() on held messages
STALL_AFTER = 60.0  # no progress for this long while holding messages: not ready


def parse_payload(data: bytes) -> dict[str, Any]:
    """The message's JSON object, or PermanentError: only undecodable input is caught."""
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PermanentError(f"payload is not JSON: {exc}", code="bad_payload") from exc
    if not isinstance(payload, dict):
        raise PermanentError("payload is not a JSON object", code="bad_payload")
    return payload


@dataclass(eq=False)
class Delivery:
    """One fetched message and what `prepare` made of it."""

    msg: Msg
    item: Any = None

    @property
    def attempt(self) -> int:
        return self.msg.metadata.num_delivered if self.msg.metadata else 1


@dataclass(frozen=True)
class Handling:
    """What a consumer does with messages: check one, then apply a batch or one alone."""

    prepare: Callable[[dict[str, Any]], Any]
    apply_one: Callable[[Any], Awaitable[Any]]
    apply_batch: Callable[[list[Any]], Awaitable[Any]] | None = None


@dataclass
class ConsumerHealth:
    """What readiness reads: is the loop alive, is it waiting for a server, is it stuck."""

    name: str
    task: asyncio.Task[None] | None = None
    last_progress: float = field(default_factory=time.monotonic)
    holding: int = 0  # messages fetched and not yet settled
    waiting_since: float | None = None  # a server has not answered since then
    errors: int = 0  # the loop's own failures

    def progressed(self) -> None:
        self.last_progress = time.monotonic()

    def problem(self, stall_after: float) -> str | None:
        if self.task is None or self.task.done():
            return "not running"
        if self.waiting_since is not None:
            return "waiting for a server"
        if self.holding and time.monotonic() - self.last_progress > stall_after:
            return "not progressing"
        return None


class Consumer:
    def __init__(
        self,
        bus: Bus,
        stream: str,
        durable: str,
        subject: str,
        batch: int,
        handling: Handling,
    ) -> None:
        self.bus = bus
        self.stream = stream
        self.durable = durable
        self.subject = subject
        self.batch = batch
        self.handling = handling
        self.health = ConsumerHealth(durable)
        self._sub: Any = None

    # --- the loop ---------------------------------------------------------------------
    async def run(self) -> None:
        failures = 0
        try:
            while not self.bus.stopping:
                try:
                    await self._round()
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the loop outlives any failure of its own
                    failures += 1
                    await self._recover(exc, failures)
        finally:
            await self._drop_subscription()

    async def _round(self) -> None:
        msgs = await self._fetch()
        self.health.progressed()
        if msgs:
            self.health.holding = len(msgs)
            async with self._keep_alive(msgs):
                ready = await self._decode(msgs)
                await self._apply(ready)
            self.health.holding = 0

    async def _recover(self, exc: Exception, failures: int) -> None:
        delay = LOOP_BACKOFF[min(failures - 1, len(LOOP_BACKOFF) - 1)]
        self.health.holding = 0
        await self._drop_subscription()  # a fresh pull subscription after any failure
        if is_infrastructure_error(exc):
            self.health.waiting_since = self.health.waiting_since or time.monotonic()
            log.warning("consumer %s cannot fetch, retry in %ss: %r", self.durable, delay, exc)
        else:
            self.health.errors += 1
            CONSUMER_LOOP_ERRORS.labels(self.bus.service, self.durable).inc()
            log.exception("consumer %s failed, retry in %ss", self.durable, delay)
        await asyncio.sleep(delay)

    # --- phase 1: fetch ---------------------------------------------------------------
    async def _fetch(self) -> list[Msg]:
        if self._sub is None:
            self._sub = await self.bus.durable_consumer(self.stream, self.durable, self.subject)
        try:
            msgs: list[Msg] = await self._sub.fetch(self.batch, timeout=1)
        except (TimeoutError, NatsTimeout):
            msgs = []  # nothing to do yet (a busy loop may time out in asyncio itself)
        self.health.waiting_since = None
        return msgs

    async def _drop_subscription(self) -> None:
        # a cancelled fetch can leave a late status reply queued on the pull
        # subscription, and drain() would then wait for it until its timeout
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    # --- phase 2: decode --------------------------------------------------------------
    async def _decode(self, msgs: list[Msg]) -> list[Delivery]:
        ready: list[Delivery] = []
        for msg in msgs:
            delivery = Delivery(msg)
            try:
                delivery.item = self.handling.prepare(parse_payload(msg.data))
            except PermanentError as exc:
                await self._dead_letter(delivery, exc.code, str(exc))
            except Exception as exc:  # noqa: BLE001 - a bug in prepare: counted like any failure
                await self._failed(delivery, exc)
            else:
                ready.append(delivery)
        return ready

    # --- phase 3: apply ---------------------------------------------------------------
    async def _apply(self, ready: list[Delivery]) -> None:
        apply_batch = self.handling.apply_batch
        if len(ready) > 1 and apply_batch is not None:
            started = time.perf_counter()
            try:
                await self._until_answered(lambda: apply_batch([d.item for d in ready]))
            except Exception as exc:  # noqa: BLE001 - redo one by one: each settles on its own
                log.warning("batch of %d failed (%r), applying one by one", len(ready), exc)
            else:
                self._observe(started)
                await self._settle_ok(ready)
                return
        for delivery in ready:
            await self._apply_alone(delivery)

    async def _apply_alone(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        try:
            await self._until_answered(lambda: self.handling.apply_one(delivery.item))
        except PermanentError as exc:
            await self._dead_letter(delivery, exc.code, str(exc))
        except Exception as exc:  # noqa: BLE001 - the message's own failure: counted
            await self._failed(delivery, exc)
        else:
            await self._settle_ok([delivery])
        finally:
            self._observe(started)

    async def _until_answered(self, step: Callable[[], Awaitable[Any]]) -> Any:
        """Run `step`; while a server does not answer, wait and run it again (uncounted)."""
        waits = 0
        while True:
            try:
                result = await step()
            except Exception as exc:
                if not is_infrastructure_error(exc):
                    raise
                if self.bus.stopping:  # settle nothing: the messages are redelivered
                    raise asyncio.CancelledError from exc
                delay = OUTAGE_BACKOFF[min(waits, len(OUTAGE_BACKOFF) - 1)]
                waits += 1
                if self.health.waiting_since is None:
                    self.health.waiting_since = time.monotonic()
                    log.warning("consumer %s waits for a server: %r", self.durable, exc)
                EVENTS_CONSUMED.labels(self.bus.service, self.durable, "waiting").inc()
                await asyncio.sleep(delay)
                continue
            if self.health.waiting_since is not None:
                log.info("consumer %s resumes after %.1fs", self.durable, self._waited())
                self.health.waiting_since = None
            self.health.progressed()
            return result

    def _waited(self) -> float:
        return time.monotonic() - (self.health.waiting_since or time.monotonic())

    @contextlib.asynccontextmanager
    async def _keep_alive(self, msgs: list[Msg]) -> AsyncIterator[None]:
        """Extend the ack deadline of held messages while a slow step or an outage lasts."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(KEEPALIVE_EVERY)
                for msg in msgs:
                    if not msg.is_acked:
                        with contextlib.suppress(Exception):  # NATS away: the next beat tries
                            await msg.in_progress()

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- phase 4: settle --------------------------------------------------------------
    async def _settle_ok(self, done: list[Delivery]) -> None:
        for delivery in done:
            await self._until_answered(delivery.msg.ack)
        EVENTS_CONSUMED.labels(self.bus.service, self.durable, "ok").inc(len(done))

    async def _failed(self, delivery: Delivery, exc: Exception) -> None:
        HANDLER_ERRORS.labels(self.bus.service, self.durable).inc()
        attempt = delivery.attempt
        if attempt >= MAX_DELIVER:
            log.error("giving up after %d attempts", attempt, exc_info=exc)
            await self._dead_letter(delivery, "retries_exhausted", repr(exc))
            return
        delay = NAK_BACKOFF[min(attempt - 1, len(NAK_BACKOFF) - 1)]
        log.warning(
            "handler failed (attempt %d), retry in %ss: %r", attempt, delay, exc, exc_info=exc
        )
        await self._until_answered(lambda: delivery.msg.nak(delay=delay))
        EVENTS_CONSUMED.labels(self.bus.service, self.durable, "retry").inc()

    async def _dead_letter(self, delivery: Delivery, code: str, reason: str) -> None:
        async def publish_then_ack() -> None:
            # the record's msg id is the original's stream sequence: a retry stores it once
            await self.bus.dead_letter(self.durable, delivery.msg, code, reason)
            await delivery.msg.ack()

        await self._until_answered(publish_then_ack)
        EVENTS_CONSUMED.labels(self.bus.service, self.durable, "dead_letter").inc()

    def _observe(self, started: float) -> None:
        HANDLER_LATENCY.labels(self.bus.service, self.durable).observe(
            time.perf_counter() - started
        )

"""The message bus: NATS core for requests and live fan-out, JetStream for durable flows.

- `Bus.connect` retries the first connection and reconnects forever afterwards.
- `ensure_stream` / `durable_consumer` are idempotent, so every service declares what
  it needs at start.
- `publish_durable` sets `Nats-Msg-Id` so a retried publish is stored once.
- `consume` / `consume_batches` run a durable consumer loop (shared/consumer.py): ack
  on success, wait out an unreachable server, nak a failing message with backoff and
  send one that can never be applied to the dead-letter subject with its reason.
  `consumers_healthy` is the readiness check of a service that consumes.
- `serve` / `request` carry JSON request/reply with errors as `{"error": {...}}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from shared import consumer as consumer_mod
from shared import deadletters, tasks
from shared.consumer import Consumer, Handling
from shared.errors import BusError, PermanentError
from shared.metrics import HANDLER_ERRORS, HANDLER_LATENCY
from shared.schema import from_database
from shared.subjects import Subjects

log = logging.getLogger("parley.bus")

JsonHandler = Callable[[dict[str, Any]], Awaitable[Any]]
REQUESTS_IN_FLIGHT = 32  # per served subject and process
REQUESTS_SETTLE_SECONDS = 5.0
T = TypeVar("T")
Ctx = TypeVar("Ctx")


_STRUCTS = msgspec.json.Encoder(enc_hook=from_database)  # Int64 or ObjectId from a document


def encode(payload: Any) -> bytes:
    if isinstance(payload, msgspec.Struct):  # a typed fact (shared/schema): no dict copy
        return _STRUCTS.encode(payload)
    return json.dumps(payload, separators=(",", ":"), default=str).encode()


def decode(data: bytes) -> Any:
    return json.loads(data) if data else None


class Bus:
    def __init__(self, url: str, subjects: Subjects, service: str, replicas: int = 1) -> None:
        self.url = url
        self.replicas = replicas
        self.subjects = subjects
        self.service = service
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._consumers: list[Consumer] = []
        self._stopping = asyncio.Event()
        self._requests = tasks.BackgroundTasks(log, "answering a request")
        self._served: list[Any] = []  # the subscriptions of `serve`
        self._taking_work = True
        self._live_handlers: set[asyncio.Future[Any]] = set()  # `subscribe` handlers running

    # --- connection -------------------------------------------------------------------
    async def connect(self, first_attempt_timeout: float = 30.0) -> None:
        from shared.settings import nats_servers

        deadline = time.monotonic() + first_attempt_timeout
        delay = 0.2
        while True:
            try:
                self.nc = await nats.connect(
                    servers=nats_servers(self.url),  # several cluster seeds, comma-separated
                    name=f"parley-{self.service}",
                    # services never give up (the default stops after ~2 minutes)
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    connect_timeout=2,
                    ping_interval=10,
                    max_outstanding_pings=3,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnect,
                    reconnected_cb=self._on_reconnect,
                )
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise BusError(f"cannot reach NATS at {self.url}: {exc}") from exc
                log.warning("nats not reachable yet, retrying", extra={"url": self.url})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2)
        self.js = self.nc.jetstream()
        log.info("connected to nats", extra={"url": self.url})

    async def _on_error(self, exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    async def _on_disconnect(self) -> None:
        if self._stopping.is_set():
            log.info("disconnected from nats (closing)")
        else:
            log.warning("disconnected from nats, reconnecting")

    async def _on_reconnect(self) -> None:
        log.info("reconnected to nats")

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def close(self) -> None:
        self._stopping.set()
        await tasks.stop(*self._tasks)
        self._tasks.clear()
        await self._requests.settle(REQUESTS_SETTLE_SECONDS)  # answer what is in flight
        if self.nc and not self.nc.is_closed:
            try:
                await asyncio.wait_for(self.nc.drain(), 5)
            except Exception:  # noqa: BLE001 - closing anyway
                # NATS gone mid-drain (a restart): the socket may already be dead too
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.nc.close(), 5)
        await self._requests.close()  # any that came in while draining and could not answer

    # --- JetStream declarations --------------------------------------------------------
    async def ensure_stream(self, name: str, subjects: list[str], max_age_days: float = 30) -> None:
        config = StreamConfig(
            name=name,
            subjects=subjects,
            storage=StorageType.FILE,
            duplicate_window=120,
            max_age=max_age_days * 86400,
            num_replicas=self.replicas,
        )
        assert self.js is not None
        try:
            await self.js.add_stream(config)
        except BadRequestError:
            await self.js.update_stream(config)

    async def ensure_standard_streams(self) -> None:
        s = self.subjects
        await self.ensure_stream(s.events_stream, [s.events_all])
        await self.ensure_stream(s.chat_stream, [s.chat_inbound_all])
        await self.ensure_stream(s.identity_stream, [s.identity_facts_all])
        await self.ensure_stream(s.chat_facts_stream, [s.chat_facts_all])
        await self.ensure_stream(s.deadletter_stream, [s.deadletter_all], max_age_days=90)
        await self.ensure_stream(s.audit_stream, [s.audit_all], max_age_days=7)

    async def durable_consumer(
        self,
        stream: str,
        durable: str,
        subject: str,
        ack_wait: float = consumer_mod.ACK_WAIT,
    ) -> JetStreamContext.PullSubscription:
        assert self.js is not None
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ack_wait,
            # a margin over the consumer's own count, for redeliveries after a crash
            max_deliver=consumer_mod.MAX_DELIVER + 2,
            max_ack_pending=2000,
            filter_subject=subject,
        )
        return await self.js.pull_subscribe(subject, durable=durable, stream=stream, config=config)

    # --- publishing --------------------------------------------------------------------
    async def publish_durable(
        self,
        subject: str,
        payload: Any,
        msg_id: str,
        timeout: float = 5.0,
    ) -> bool:
        """Store `payload` in JetStream once per `msg_id`; True if it was new."""
        assert self.js is not None
        ack = await self.js.publish(
            subject,
            encode(payload),
            timeout=timeout,
            headers={"Nats-Msg-Id": msg_id},
        )
        return not ack.duplicate

    async def publish_durable_many(
        self, items: list[tuple[str, Any, str]], timeout: float = 5.0
    ) -> None:
        """Publish many (subject, payload, msg_id) in one window; raises if any fails.

        Pipelined with `publish_async`: every message is written before the first ack is
        awaited, and the acks are gathered, all under one time-out, instead of a request (a
        task, a future and a timer) per message. `wait_stall=None` on purpose: with a
        number nats-py wraps each message's semaphore wait in `asyncio.wait_for` (a task,
        a timer, and a yield to the loop that lets its flusher write every message in a
        syscall of its own: 24 % of the gateway's CPU at batches of 100); without it a
        window is appended to one buffer and written at once, and the `asyncio.timeout`
        here bounds a stalled window as a whole. An error, a time-out or a cancel drops
        the acks still awaited, so none lingers in nats-py's table.
        """
        assert self.js is not None
        acks: list[asyncio.Future[Any]] = []
        try:
            async with asyncio.timeout(timeout):
                for subject, payload, msg_id in items:
                    acks.append(
                        await self.js.publish_async(
                            subject, encode(payload), headers={"Nats-Msg-Id": msg_id}
                        )
                    )
                await asyncio.gather(*acks)
        finally:
            for ack in acks:
                if not ack.done():
                    ack.cancel()

    async def publish(self, subject: str, payload: Any) -> None:
        """Live fan-out: at-most-once, nobody listening means nobody needed it."""
        assert self.nc is not None
        await self.nc.publish(subject, encode(payload))

    async def subscribe(
        self,
        subject: str,
        handler: JsonHandler,
        queue: str = "",
    ) -> Any:
        async def on_payload(msg: Msg) -> None:
            await handler(decode(msg.data))

        return await self.subscribe_messages(subject, on_payload, queue)

    async def subscribe_messages(
        self,
        subject: str,
        handler: Callable[[Msg], Awaitable[None]],
        queue: str = "",
    ) -> Any:
        """`subscribe` with the message itself (its subject and raw bytes) for the handler:
        a wildcard subscription dispatching by subject, a payload read with msgspec."""
        assert self.nc is not None

        async def on_msg(msg: Msg) -> None:
            if not self.taking_work:  # stopping: live frames are at-most-once anyway
                return
            running = asyncio.get_running_loop().create_future()  # for stop_taking_work
            self._live_handlers.add(running)
            try:
                await handler(msg)
            except Exception:
                HANDLER_ERRORS.labels(self.service, subject).inc()
                log.exception("live handler failed", extra={"subject": subject})
            finally:
                running.set_result(None)
                self._live_handlers.discard(running)

        return await self.nc.subscribe(subject, queue=queue, cb=on_msg)

    # --- request/reply -----------------------------------------------------------------
    async def serve(self, subject: str, handler: JsonHandler, queue: str | None = None) -> None:
        """Answer requests on `subject` (queue group = the service, so replicas share them).

        nats-py runs one subscription's callbacks one after another, so each request is
        handled in a task of its own, at most REQUESTS_IN_FLIGHT at once per subject:
        otherwise one slow request holds up every other of its kind (a queue builds and
        callers time out while the database is mostly idle). Handlers are already run
        side by side by replicas, so none may rely on running alone.
        """
        assert self.nc is not None
        in_flight = asyncio.Semaphore(REQUESTS_IN_FLIGHT)

        async def answer(msg: Msg) -> None:
            started = time.perf_counter()
            try:
                result = await handler(decode(msg.data) or {})
                reply: Any = {"ok": True, "result": result}
            except PermanentError as exc:
                reply = {"ok": False, "error": {"code": exc.code, "message": str(exc)}}
            except Exception as exc:
                HANDLER_ERRORS.labels(self.service, subject).inc()
                log.exception("request handler failed", extra={"subject": subject})
                reply = {"ok": False, "error": {"code": "internal", "message": type(exc).__name__}}
            HANDLER_LATENCY.labels(self.service, subject).observe(time.perf_counter() - started)
            if msg.reply:
                try:
                    await msg.respond(encode(reply))
                except Exception:
                    if not self._stopping.is_set():
                        raise
                    log.debug("no answer sent: closing", extra={"subject": subject})

        async def on_request(msg: Msg) -> None:
            await in_flight.acquire()  # the limit reached: later requests wait in nats-py's queue
            task = self._requests.start(answer(msg))
            task.add_done_callback(lambda _: in_flight.release())

        self._served.append(
            await self.nc.subscribe(subject, queue=queue or self.service, cb=on_request)
        )
        # the SUB is buffered: flush it, so a service that says it started also answers
        # (a request right after start otherwise meets "no responders")
        await self.nc.flush()

    async def serve_verbs(
        self,
        service: str,
        handlers: dict[str, Callable[[Ctx, dict[str, Any]], Awaitable[Any]]],
        ctx: Ctx,
    ) -> None:
        """Answer `<service>.<verb>` requests, each with its handler given `ctx` and the
        payload (an object; anything else reads as `{}`)."""
        for verb, handler in handlers.items():

            async def answer(
                payload: Any, handler: Callable[[Ctx, dict[str, Any]], Awaitable[Any]] = handler
            ) -> Any:
                return await handler(ctx, payload if isinstance(payload, dict) else {})

            await self.serve(self.subjects.request(service, verb), answer)

    @property
    def taking_work(self) -> bool:
        return self._taking_work

    async def stop_taking_work(self) -> None:
        """The first step of a stop, while the database is still open: no more requests
        (NATS sends them to another replica, or the caller hears "unavailable"), live
        messages dropped, and the requests and live handlers in flight finished."""
        self._taking_work = False
        for sub in self._served:
            with contextlib.suppress(Exception):  # NATS away: nothing comes in anyway
                await asyncio.wait_for(sub.drain(), REQUESTS_SETTLE_SECONDS)
        self._served.clear()
        await self._requests.settle(REQUESTS_SETTLE_SECONDS)
        if self._live_handlers:
            await asyncio.wait(list(self._live_handlers), timeout=REQUESTS_SETTLE_SECONDS)

    async def request(self, subject: str, payload: Any, timeout: float = 5.0) -> Any:
        assert self.nc is not None
        try:
            msg = await self.nc.request(subject, encode(payload), timeout=timeout)
        except NoRespondersError as exc:
            raise BusError(f"no service answers {subject}", code="unavailable") from exc
        except NatsTimeout as exc:
            raise BusError(f"{subject} timed out", code="timeout") from exc
        reply = decode(msg.data)
        if not reply.get("ok"):
            err = reply.get("error") or {}
            raise BusError(err.get("message", "request failed"), code=err.get("code", "error"))
        return reply.get("result")

    async def gather_answers(
        self,
        subject: str,
        data: bytes,
        settled: Callable[[bytes], bool],
        first_s: float = 1.0,
        window_s: float = 0.05,
    ) -> list[bytes]:
        """Ask every subscriber of `subject` (not one, as `request` does) and collect answers.

        Stops at an answer `settled` accepts, `window_s` after the first answer (every
        subscriber answers at about the same time on a healthy bus), or after `first_s`
        with no answer at all (nobody subscribes).
        """
        assert self.nc is not None
        loop = asyncio.get_running_loop()
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        answers: list[bytes] = []
        try:
            await self.nc.publish(subject, data, reply=inbox)
            deadline = loop.time() + first_s
            while (left := deadline - loop.time()) > 0:
                try:
                    msg = await sub.next_msg(timeout=left)
                except NatsTimeout:
                    break
                answers.append(msg.data)
                if settled(msg.data):
                    break
                if len(answers) == 1:
                    deadline = min(deadline, loop.time() + window_s)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        return answers

    # --- durable consumption (the loop itself: shared/consumer.py) ---------------------
    def consume(
        self,
        stream: str,
        durable: str,
        subject: str,
        handler: JsonHandler,
        batch: int = 50,
    ) -> asyncio.Task[None]:
        """Run `handler` on every message of a durable consumer until `close()`."""

        def prepare(payload: dict[str, Any]) -> dict[str, Any]:
            return payload

        return self._start(
            Consumer(self, stream, durable, subject, batch, Handling(prepare, handler))
        )

    def consume_batches(
        self,
        stream: str,
        durable: str,
        subject: str,
        prepare: Callable[[dict[str, Any]], T],
        apply: Callable[[list[T]], Awaitable[Any]],
        batch: int = 200,
    ) -> asyncio.Task[None]:
        """Apply a durable consumer's messages a fetched batch at a time, until `close()`.

        `prepare` checks one payload (raising `PermanentError` for one that can never
        apply: it is dead-lettered alone); `apply` handles the prepared batch in order.
        If `apply` fails on its own account, the batch is redone one message at a time
        with the same ack/nak/dead-letter rules as `consume`; if a server does not
        answer, the same batch is retried until it does. Batches run one after
        another, so messages keep their order.
        """

        async def apply_one(item: T) -> Any:
            return await apply([item])

        handling = Handling(prepare, apply_one, apply_batch=apply)
        return self._start(Consumer(self, stream, durable, subject, batch, handling))

    def _start(self, consumer: Consumer) -> asyncio.Task[None]:
        task = asyncio.ensure_future(consumer.run())
        consumer.health.task = task
        self._consumers.append(consumer)
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._consumer_ended(consumer.durable, t))
        return task

    def _consumer_ended(self, durable: str, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stopping.is_set():
            return
        exc = task.exception()
        log.error("consumer %s stopped", durable, exc_info=exc)

    @property
    def consumers(self) -> list[Consumer]:
        return list(self._consumers)

    def consumer_problems(self) -> dict[str, str]:
        """Consumers that are not running, wait for a server, or hold messages without progress."""
        problems = {}
        for consumer in self._consumers:
            problem = consumer.health.problem(consumer_mod.STALL_AFTER)
            if problem:
                problems[consumer.durable] = problem
        return problems

    async def consumers_healthy(self) -> bool:
        """The readiness check of a service with durable consumers (registered in its app)."""
        problems = self.consumer_problems()
        if problems:
            log.warning("consumers not ready: %s", problems)
        return not problems

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def dead_letter(self, consumer: str, msg: Msg, code: str, reason: str) -> None:
        record = deadletters.record_of(consumer, msg, code, reason)
        log.error("dead-lettered", extra={"consumer": consumer, "code": code, "reason": reason})
        msg_id = f"{consumer}:{msg.metadata.sequence.stream if msg.metadata else time.time_ns()}"
        await self.publish_durable(self.subjects.deadletter(consumer), record, msg_id)


__all__ = ["Bus", "BusError", "NotFoundError", "PermanentError", "encode", "decode"]

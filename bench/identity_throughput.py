"""Events per second through the identity service, against the limits it sits on, same run.

Baselines on the same servers: a raw pull `fetch(200)`+ack of the same number of
messages (the bus limit) and a raw `insert_many` of the same number of event
records (the database limit; every event costs at least that one write).
Then the real identity app (its consumer, processor and database) applies:
  1. first sight: page views from new devices (a person and a visitor each);
  2. steady state: page views and tracks of known devices (the bulk of traffic);
  3. identity calls: identify with traits and a merge for users with two devices.

Each repetition runs the three phases on fresh devices, interleaved with the raw
writes (bulk replace of as many documents as the steady phase's events, insert_many of
as many as there are new devices); target steady >= 0.50x of bulk replace.

    python -m bench.identity_throughput [--devices 500] [--events 3000] [--reps 3]
    python -m bench.identity_throughput --devices 100 --events 600 --reps 1   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import nats
from aiohttp import web
from pymongo import ReplaceOne

from bench.common import (
    BenchServers,
    Record,
    Timer,
    bench_bus,
    bench_settings,
    fetch_and_ack,
    finish,
    interleaved,
    rate,
    servers,
)
from services.identity.app import PROCESSOR, create_app
from shared import db
from shared.bus import Bus
from shared.events import EventKind, IngestEvent

BENCH = "identity"


def _event(kind: EventKind, n: int, *, spread: bool = False, **fields) -> dict:
    moment = datetime.now(UTC)
    if spread:  # a day of traffic: a device's events mostly fall in different minutes
        moment -= timedelta(seconds=random.randrange(86400))
    now = moment.isoformat().replace("+00:00", "Z")
    fields.setdefault("trusted", kind in ("identify", "alias"))
    fields.setdefault("source", "widget" if kind in ("page", "track") else "api")
    return IngestEvent(
        workspace_id="default",
        kind=kind,
        message_id=f"{kind}-{n}-{uuid.uuid4().hex}",  # 6 hex digits collided (birthdays)
        timestamp=now,
        received_at=now,
        **fields,
    ).to_dict()


CONTEXT = {
    "ip": "10.1.2.3",
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0",
    "page": {"url": "https://shop.example/", "referrer": "https://www.google.com/"},
}


async def publish_all(bus: Bus, events: list[dict]) -> None:
    s = bus.subjects
    for start in range(0, len(events), 500):
        chunk = events[start : start + 500]
        await bus.publish_durable_many(
            [
                (s.events(e["workspace_id"], e["kind"]), e, f"default:{e['message_id']}")
                for e in chunk
            ]
        )


async def drain(bus: Bus, js) -> None:
    while True:
        info = await js.consumer_info(bus.subjects.events_stream, "identity")
        stream = await js.stream_info(bus.subjects.events_stream)
        if (
            info.num_pending == 0
            and info.num_ack_pending == 0
            and info.delivered.stream_seq >= stream.state.last_seq
        ):
            return
        await asyncio.sleep(0.1)


async def phase(bus: Bus, js, app: web.Application, events: list[dict]) -> float:
    processor = app[PROCESSOR]
    before = processor.applied  # before publishing: the consumer may start meanwhile
    await publish_all(bus, events)  # published first: we time the consumer, not the publisher
    with Timer() as t:
        await drain(bus, js)
    assert processor.applied - before == len(events), (processor.applied - before, len(events))
    return rate(len(events), t.seconds)


class Baselines:
    """The raw limits on the same servers: pull fetch+ack, insert_many, bulk replace."""

    def __init__(self, nats_url: str, mongo_url: str) -> None:
        self.nats_url = nats_url
        self.client = db.connect(mongo_url)
        self.coll = self.client["bench_raw"]["events"]

    async def fetch_and_ack(self, count: int) -> float:
        raw = await nats.connect(self.nats_url)
        js = raw.jetstream()
        name = "B" + uuid.uuid4().hex[:8]
        await js.add_stream(name=name, subjects=[f"{name}.>"])
        body = json.dumps(_event("page", 0, anonymous_id="a", context=CONTEXT)).encode()
        for start in range(0, count, 500):
            await asyncio.gather(
                *(js.publish(f"{name}.x", body) for _ in range(start, min(count, start + 500)))
            )
        sub = await js.pull_subscribe(f"{name}.>", durable="raw", stream=name)
        with Timer() as fetch:
            await fetch_and_ack(sub, count, 200)
        await js.delete_stream(name)
        await raw.close()
        return rate(count, fetch.seconds)

    async def insert_many(self, count: int) -> float:
        docs = [
            {
                "workspace_id": "default",
                "message_id": f"m{n}-{uuid.uuid4().hex[:6]}",
                "type": "page",
                "properties_json": "{}",
                "timestamp": datetime.now(UTC),
            }
            for n in range(count)
        ]
        with Timer() as insert:
            for start in range(0, count, 200):
                await self.coll.insert_many(docs[start : start + 200], ordered=False)
        return rate(count, insert.seconds)

    async def bulk_replace(self, count: int) -> float:
        if await self.coll.estimated_document_count() < count:
            await self.insert_many(count)
        stored = [d async for d in self.coll.find({}, {"_id": 1}).limit(count)]
        with Timer() as replace:
            for start in range(0, len(stored), 200):
                ops = [
                    ReplaceOne({"_id": d["_id"]}, {"type": "page", "n": start})
                    for d in stored[start : start + 200]
                ]
                await self.coll.bulk_write(ops, ordered=False)
        return rate(len(stored), replace.seconds)

    async def close(self) -> None:
        await self.coll.drop()
        self.client.close()


class Workload:
    """Fresh events for each repetition: new devices, their traffic, then identifies."""

    def __init__(self, devices: int, count: int) -> None:
        self.devices, self.count = devices, count
        self.rng = random.Random(1)
        self.rep = 0
        self.anons: list[str] = []

    def first_sight(self) -> list[dict]:
        self.rep += 1
        self.anons = [f"dev{self.rep}-{n}" for n in range(self.devices)]
        return [
            _event("page", n, anonymous_id=a, context=CONTEXT) for n, a in enumerate(self.anons)
        ]

    def steady(self) -> list[dict]:
        pick = self.rng.choice
        return [
            _event("page", n, anonymous_id=pick(self.anons), context=CONTEXT, spread=True)
            if n % 3
            else _event(
                "track",
                n,
                anonymous_id=pick(self.anons),
                event="Clicked",
                properties={"$set": {"last": n}},
                context=CONTEXT,
                spread=True,
            )
            for n in range(self.count)
        ]

    def identifies(self) -> list[dict]:
        return [
            _event(
                "identify",
                n,
                user_id=f"user-{self.rep}-{n // 2}",
                anonymous_id=self.anons[n],
                traits={"name": f"User {n // 2}", "email": f"u{self.rep}-{n // 2}@x.example"},
            )
            for n in range(self.devices // 2 * 2)
        ]


async def run(srv: BenchServers, args: argparse.Namespace) -> None:
    raw = Baselines(srv.nats.url, srv.mongo.url)
    settings = bench_settings(srv)
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()  # runs the startup contexts: bus, workspaces, Mongo, consumer
    bus = await bench_bus(settings)
    work = Workload(args.devices, args.events)
    steady_rates: list[float] = []
    identify_rates: list[float] = []

    async def a_round() -> float:
        """One repetition of the three phases; first sight is its figure, the others kept."""
        first = await phase(bus, bus.js, app, work.first_sight())
        steady_rates.append(await phase(bus, bus.js, app, work.steady()))
        identify_rates.append(await phase(bus, bus.js, app, work.identifies()))
        return first

    replace_rates: list[float] = []

    async def raw_round() -> float:
        replace_rates.append(await raw.bulk_replace(args.events))
        return await raw.insert_many(args.devices)

    first, inserts = await interleaved(BENCH, "rounds", a_round, raw_round, args.reps)
    fetch = [await raw.fetch_and_ack(args.events)]
    await bus.close()
    await runner.cleanup()
    await raw.close()
    common = {"devices": args.devices, "events": args.events, "fetch_and_ack_per_s": fetch}
    records = [
        Record(
            BENCH,
            f"first sight ({args.devices} new devices)",
            "events/s",
            first,
            "raw insert_many(200)",
            inserts,
            settings=common,
        ),
        Record(
            BENCH,
            f"steady page/track ({args.events} events)",
            "events/s",
            steady_rates,
            "raw bulk replace(200)",
            replace_rates,
            target=">= 0.50x",
            settings=common,
        ),
        Record(
            BENCH,
            f"identify + merges ({args.devices // 2} merges)",
            "events/s",
            identify_rates,
            "raw insert_many(200)",
            inserts,
            settings=common,
        ),
    ]
    finish(BENCH, records, vars(args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with servers() as s:
        asyncio.run(run(s, args))


if __name__ == "__main__":
    main()

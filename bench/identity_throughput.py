"""Events per second through the identity service, against the limits it sits on, same run.

Baselines on the same servers: a raw pull `fetch(200)`+ack of the same number of
messages (the bus limit) and, for each phase, **the same documents written raw**: the
event records, persons and visitors (and, for new devices, distinct ids) the phase
stored, copied into collections with identity's own indexes and written in the
worker's batches of 200 events: `insert_many` of the records, bulk `ReplaceOne` of the
persons and visitors those events touched (`insert_many` of all four for new devices).
That is the least any worker must write for the phase; the ratio is what Parley's reads,
checks, retries and announcements leave of it.
The real identity app (its consumer, processor and database) applies:
  1. first sight: page views from new devices (a person and a visitor each);
  2. steady state: page views and tracks of known devices (the bulk of traffic);
  3. identity calls: identify with traits and a merge for users with two devices.

Each repetition runs the three phases on fresh devices, each phase's raw writes right
after it, the order flipping every repetition; target steady >= 0.50x.

    python -m bench.identity_throughput [--devices 500] [--events 3000] [--reps 3]
    python -m bench.identity_throughput --devices 100 --events 600 --reps 1   # quick
    python -m bench.identity_throughput --devices 2000 --events 20000 --reps 1  # the issue's
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
from aiohttp import web
from pymongo import InsertOne, ReplaceOne

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
from bench.ingest import _cpu_seconds
from services.identity.app import BATCH, PROCESSOR, create_app
from services.identity.store import INDEXES
from shared import db
from shared.bus import Bus
from shared.events import EventKind, IngestEvent
from shared.settings import Settings

BENCH = "identity"


def make_event(kind: EventKind, n: int, *, spread: bool = False, **fields) -> dict:
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


async def phase(
    bus: Bus, js, app: web.Application, events: list[dict], cpu_ms: list[float] | None = None
) -> float:
    """Events/s the in-process worker applies; into `cpu_ms` this process's CPU per event
    meanwhile (the worker's, less the drain's polling: what bounds it on a faster server)."""
    processor = app[PROCESSOR]
    before = processor.applied  # before publishing: the consumer may start meanwhile
    await publish_all(bus, events)  # published first: we time the consumer, not the publisher
    cpu = time.process_time()
    with Timer() as t:
        await drain(bus, js)
    if cpu_ms is not None:
        cpu_ms.append((time.process_time() - cpu) * 1000 / len(events))
    assert processor.applied - before == len(events), (processor.applied - before, len(events))
    return rate(len(events), t.seconds)


class Baselines:
    """The raw limits on the same servers: pull fetch+ack, and the same documents written."""

    def __init__(self, nats_url: str, mongo_url: str, settings: Settings, db_pid: int) -> None:
        self.nats_url = nats_url
        self.db_pid = db_pid
        self.db_cpu_ms: list[float] = []  # per event, of each same_documents call
        self.client = db.connect(mongo_url)
        self.source = self.client[settings.database_name("identity")]

    async def fetch_and_ack(self, count: int) -> float:
        raw = await nats.connect(self.nats_url)
        js = raw.jetstream()
        name = "B" + uuid.uuid4().hex[:8]
        await js.add_stream(name=name, subjects=[f"{name}.>"])
        body = json.dumps(make_event("page", 0, anonymous_id="a", context=CONTEXT)).encode()
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

    async def snapshot(self, events: list[dict]) -> list[dict[str, list[dict]]]:
        """The documents a phase stored, in the worker's batches: each batch's event
        records and the distinct ids, persons and visitors its events touched."""
        ws = "default"
        records = await self._by("events", "message_id", ws, [e["message_id"] for e in events])
        names = {n for e in events for n in (e.get("anonymous_id"), e.get("user_id")) if n}
        dids = await self._by("distinct_ids", "distinct_id", ws, sorted(names))
        persons = await self._by("persons", "_id", ws, [d["person_id"] for d in dids.values()])
        visitors = await self._by("visitors", "_id", ws, [d["visitor_id"] for d in dids.values()])
        batches = []
        for start in range(0, len(events), BATCH):
            chunk = events[start : start + BATCH]
            touched = [
                dids[n]
                for e in chunk
                for n in (e.get("anonymous_id"), e.get("user_id"))
                if n and n in dids
            ]
            pids = dict.fromkeys(d["person_id"] for d in touched)
            vids = dict.fromkeys(d["visitor_id"] for d in touched)
            batches.append(
                {
                    "events": [records[e["message_id"]] for e in chunk],
                    "distinct_ids": list({d["_id"]: d for d in touched}.values()),
                    "persons": [persons[p] for p in pids if p in persons],
                    "visitors": [visitors[v] for v in vids if v in visitors],
                }
            )
        return batches

    async def _by(self, collection: str, key: str, ws: str, values: list[str]) -> dict[str, dict]:
        query = {key: {"$in": sorted(set(values))}, "workspace_id": ws}
        return {d[key]: d async for d in self.source[collection].find(query)}

    async def same_documents(self, batches: list[dict[str, list[dict]]], fresh: bool) -> float:
        """Events/s of writing those documents raw into identity's own indexes: per batch
        one `insert_many` of the records and one bulk write of the persons, visitors (and,
        `fresh`, distinct ids): inserts the first time a document comes, replaces after."""
        target = self.client["bench_same_" + uuid.uuid4().hex[:8]]
        kinds = ("distinct_ids", "persons", "visitors") if fresh else ("persons", "visitors")
        for name in ("events", *kinds):
            await target[name].create_indexes(INDEXES[name])
        stored: set[Any] = set()
        if not fresh:  # they exist before the phase: written there as replaces
            for name in kinds:
                docs = {d["_id"]: d for b in batches for d in b[name]}
                stored |= set(docs)
                if docs:
                    await target[name].insert_many(list(docs.values()))
        count = 0
        cpu = _cpu_seconds(self.db_pid)
        with Timer() as t:
            for batch in batches:
                await target.events.insert_many(batch["events"], ordered=False)
                for name in kinds:
                    ops = [_raw_write(d, stored) for d in batch[name]]
                    if ops:
                        await target[name].bulk_write(ops, ordered=False)
                count += len(batch["events"])
        self.db_cpu_ms.append((_cpu_seconds(self.db_pid) - cpu) * 1000 / max(count, 1))
        await self.client.drop_database(target.name)
        return rate(count, t.seconds)

    async def close(self) -> None:
        self.client.close()


def _raw_write(doc: dict, stored: set[Any]) -> Any:
    if doc["_id"] in stored:
        return ReplaceOne({"_id": doc["_id"], "workspace_id": doc["workspace_id"]}, doc)
    stored.add(doc["_id"])
    return InsertOne(doc)


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
            make_event("page", n, anonymous_id=a, context=CONTEXT) for n, a in enumerate(self.anons)
        ]

    def steady(self) -> list[dict]:
        pick = self.rng.choice
        return [
            make_event("page", n, anonymous_id=pick(self.anons), context=CONTEXT, spread=True)
            if n % 3
            else make_event(
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
            make_event(
                "identify",
                n,
                user_id=f"user-{self.rep}-{n // 2}",
                anonymous_id=self.anons[n],
                traits={"name": f"User {n // 2}", "email": f"u{self.rep}-{n // 2}@x.example"},
            )
            for n in range(self.devices // 2 * 2)
        ]


PHASES = ("first sight", "steady", "identify")


async def run(srv: BenchServers, args: argparse.Namespace) -> None:
    settings = bench_settings(srv)
    db_pid = srv.mongo.process.pid
    raw = Baselines(srv.nats.url, srv.mongo.url, settings, db_pid)
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()  # runs the startup contexts: bus, workspaces, Mongo, consumer
    bus = await bench_bus(settings)
    work = Workload(args.devices, args.events)
    ours: dict[str, list[float]] = {p: [] for p in PHASES}
    theirs: dict[str, list[float]] = {p: [] for p in PHASES}
    latest: dict[str, list[dict[str, list[dict]]]] = {}  # each phase's documents, last rep
    cpu_ms: dict[str, list[float]] = {p: [] for p in PHASES}  # SecantusDB CPU per event
    raw_cpu_ms: dict[str, list[float]] = {p: [] for p in PHASES}
    worker_ms: dict[str, list[float]] = {p: [] for p in PHASES}  # the worker's own CPU

    async def a_round() -> float:
        """One repetition of the three phases, each on the documents it made."""
        for name, events in (
            ("first sight", work.first_sight()),
            ("steady", work.steady()),
            ("identify", work.identifies()),
        ):
            cpu = _cpu_seconds(db_pid)
            ours[name].append(await phase(bus, bus.js, app, events, worker_ms[name]))
            cpu_ms[name].append((_cpu_seconds(db_pid) - cpu) * 1000 / len(events))
            latest[name] = await raw.snapshot(events)
        return ours["steady"][-1]

    async def raw_round() -> float:
        """The same documents written raw: those of the round before when this one runs
        first (the order flips each repetition; the first repetition runs ours first)."""
        for name in PHASES:
            theirs[name].append(await raw.same_documents(latest[name], name == "first sight"))
            raw_cpu_ms[name].append(raw.db_cpu_ms[-1])
        return theirs["steady"][-1]

    await interleaved(BENCH, "rounds", a_round, raw_round, args.reps)
    fetch = [await raw.fetch_and_ack(args.events)]
    await bus.close()
    await runner.cleanup()
    await raw.close()
    common = {
        "devices": args.devices,
        "events": args.events,
        "fetch_and_ack_per_s": fetch,
        "worker_cpu_ms_per_event": worker_ms,
    }
    cases = {
        "first sight": (f"first sight ({args.devices} new devices)", "", "raw inserts"),
        "steady": (f"steady page/track ({args.events} events)", ">= 0.50x", "raw same docs"),
        "identify": (f"identify + merges ({args.devices // 2} merges)", "", "raw same docs"),
    }
    records = [
        Record(BENCH, case, "events/s", ours[name], baseline, theirs[name], target, settings=common)
        for name, (case, target, baseline) in cases.items()
    ]
    records += [
        Record(
            BENCH,
            f"{name}: SecantusDB CPU per event",
            "ms",
            cpu_ms[name],
            "raw same docs",
            raw_cpu_ms[name],
            lower_is_better=True,
            settings=common,
        )
        for name in PHASES
    ]
    for name, values in worker_ms.items():
        print(f"{name}: the worker's own CPU per event {' '.join(f'{v:.2f}' for v in values)} ms")
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

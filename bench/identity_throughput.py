"""Events per second through the identity service, against the limits it sits on, same run.

Baselines on the same servers: a raw pull `fetch(200)`+ack of the same number of
messages (the bus limit) and a raw `insert_many` of the same number of event
records (the database limit; every event costs at least that one write).
Then the real identity app (its consumer, processor and database) applies:
  1. first sight: page views from new devices (a person and a visitor each);
  2. steady state: page views and tracks of known devices (the bulk of traffic);
  3. identity calls: identify with traits and a merge for users with two devices.

    python -m bench.identity_throughput [--devices 1000] [--events 5000]
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
    Timer,
    bench_bus,
    bench_settings,
    fetch_and_ack,
    rate,
    report,
    servers,
)
from services.identity.app import PROCESSOR, create_app
from shared import db
from shared.bus import Bus
from shared.events import EventKind, IngestEvent


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
        message_id=f"{kind}-{n}-{uuid.uuid4().hex[:6]}",
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
    await publish_all(bus, events)  # published first: we time the consumer, not the publisher
    processor = app[PROCESSOR]
    before = processor.applied
    with Timer() as t:
        await drain(bus, js)
    assert processor.applied - before == len(events), (processor.applied - before, len(events))
    return rate(len(events), t.seconds)


async def baselines(nats_url: str, mongo_url: str, count: int) -> tuple[float, float, float]:
    raw = await nats.connect(nats_url)
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
    await raw.close()
    client = db.connect(mongo_url)
    coll = client["bench_raw"]["events"]
    docs = [
        {
            "workspace_id": "default",
            "message_id": f"m{n}",
            "type": "page",
            "properties_json": "{}",
            "timestamp": datetime.now(UTC),
        }
        for n in range(count)
    ]
    with Timer() as insert:
        for start in range(0, count, 200):
            await coll.insert_many(docs[start : start + 200], ordered=False)
    stored = [d async for d in coll.find({}, {"_id": 1}).limit(count)]
    with Timer() as replace:
        for start in range(0, len(stored), 200):
            ops = [
                ReplaceOne({"_id": d["_id"]}, {"type": "page", "n": start})
                for d in stored[start : start + 200]
            ]
            await coll.bulk_write(ops, ordered=False)
    await coll.drop()
    client.close()
    return (
        rate(count, fetch.seconds),
        rate(count, insert.seconds),
        rate(len(stored), replace.seconds),
    )


async def run(srv: BenchServers, devices: int, count: int) -> None:
    fetch_rate, insert_rate, replace_rate = await baselines(srv.nats.url, srv.mongo.url, count)
    settings = bench_settings(srv)
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()  # runs the startup contexts: bus, workspaces, Mongo, consumer
    bus = await bench_bus(settings)
    js = bus.js
    rng = random.Random(1)
    anons = [f"dev-{n}" for n in range(devices)]
    first = [_event("page", n, anonymous_id=a, context=CONTEXT) for n, a in enumerate(anons)]
    first_rate = await phase(bus, js, app, first)
    steady = [
        _event("page", n, anonymous_id=rng.choice(anons), context=CONTEXT, spread=True)
        if n % 3
        else _event(
            "track",
            n,
            anonymous_id=rng.choice(anons),
            event="Clicked",
            properties={"$set": {"last": n}},
            context=CONTEXT,
            spread=True,
        )
        for n in range(count)
    ]
    steady_rate = await phase(bus, js, app, steady)
    users = devices // 2
    identifies = [
        _event(
            "identify",
            n,
            user_id=f"user-{n // 2}",
            anonymous_id=anons[n],
            traits={"name": f"User {n // 2}", "email": f"u{n // 2}@x.example"},
        )
        for n in range(users * 2)
    ]
    identify_rate = await phase(bus, js, app, identifies)
    await bus.close()
    await runner.cleanup()
    report(
        "Identity service throughput (one worker, embedded NATS + SecantusDB)",
        [
            ("baseline: raw fetch(200)+ack", f"{fetch_rate:,.0f} msg/s"),
            ("baseline: raw insert_many(200)", f"{insert_rate:,.0f} docs/s"),
            ("baseline: raw bulk_write(200 ReplaceOne)", f"{replace_rate:,.0f} docs/s"),
            (
                f"first sight ({devices} new devices)",
                f"{first_rate:,.0f} events/s  ({first_rate / insert_rate:.2f} x insert_many)",
            ),
            (
                f"steady page/track ({count} events)",
                f"{steady_rate:,.0f} events/s  ({steady_rate / replace_rate:.2f} x bulk replace, "
                f"{steady_rate / fetch_rate:.3f} x fetch+ack)",
            ),
            (
                f"identify + merges ({len(identifies)} events, {users} merges)",
                f"{identify_rate:,.0f} events/s  ({identify_rate / insert_rate:.2f} x insert_many)",
            ),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    with servers() as s:
        asyncio.run(run(s, args.devices, args.events))


if __name__ == "__main__":
    main()

"""Scale-out: one identity worker against two on the same durable consumer, same events.

Each run gets a namespace of its own (subjects and databases) on the same servers;
the workers are `python -m services.identity` processes (as deployed), started and
ready before the events come. The events are one list made once (new devices, their
page views and tracks, then identifies with a merge for each user of two devices),
published as fast as the bus takes them; the figure is events applied per second from
the first publish until the consumer has nothing pending. The two runs alternate
(the order flipping every repetition); after each pair the bench compares what the
profiles API shows of both and prints whether they are identical (ids and merge
history left out: which of two racing persons is created first decides them, not what
a profile holds).

    python -m bench.identity_scale [--devices 300] [--events 2000] [--reps 3]
    python -m bench.identity_scale --devices 100 --events 600 --reps 1   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from bench.common import (
    BenchServers,
    Record,
    Timer,
    bench_bus,
    bench_settings,
    finish,
    interleaved,
    progress,
    rate,
    servers,
)
from bench.identity_throughput import Workload, drain, publish_all
from bench.ingest import _cpu_seconds
from services.identity.profiles import full_profiles
from services.identity.store import IdentityStore
from shared import db
from shared.dialect import detect
from shared.embedded import free_port
from shared.settings import Settings

BENCH = "identity_scale"
WS = "default"
# what depends on which racing person was stored first, not on what the profile holds
ORDER_DEPENDENT = ("id", "merged_from", "created_at", "engagement_score")


class Worker:
    """One `python -m services.identity` process on a run's namespace."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "PARLEY_DATA_DIR": str(settings.data_dir),
            "NATS_URL": settings.nats_url,
            "MONGO_URL": settings.mongo_url,
            "PARLEY_SUBJECT_PREFIX": settings.subject_prefix,
            "PARLEY_DB_PREFIX": settings.db_prefix,
            "PARLEY_IDENTITY_PORT": str(self.port),
            "PARLEY_METRICS_PORT": "0",
            "PARLEY_LOG_LEVEL": "WARNING",
        }
        self.proc = subprocess.Popen([sys.executable, "-m", "services.identity"], env=env)

    async def ready(self) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("an identity worker did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)


@dataclass
class Run:
    per_second: float
    db_cpu_ms_per_event: float  # SecantusDB's CPU time over the run, per event
    database: str


async def applied_rate(srv: BenchServers, workers: int, events: list[dict]) -> Run:
    """Events/s with `workers` processes on a fresh namespace, and what the database spent."""
    settings = bench_settings(srv)
    bus = await bench_bus(settings)
    procs = [Worker(settings) for _ in range(workers)]
    db_pid = srv.mongo.process.pid
    try:
        for proc in procs:
            await proc.ready()
        cpu_before = _cpu_seconds(db_pid)
        with Timer() as t:
            await publish_all(bus, events)
            await drain(bus, bus.js)
        db_cpu = _cpu_seconds(db_pid) - cpu_before
    finally:
        for proc in procs:
            proc.stop()
        await bus.close()
    return Run(
        rate(len(events), t.seconds),
        db_cpu * 1000 / len(events),
        settings.database_name("identity"),
    )


async def profiles_shown(client: Any, database: str) -> list[str]:
    """Every live profile of the run as the profiles API builds it, in a form two runs
    compare: ids and merge history left out (which of two racing persons was stored
    first decides them, not what a profile holds)."""
    store = IdentityStore(client[database], await detect(client))
    persons = await store.live_persons_page(WS, None, None, 1_000_000)
    return sorted(_comparable(msgspec.to_builtins(p)) for p in await full_profiles(store, persons))


def _comparable(profile: dict[str, Any]) -> str:
    shown = {k: v for k, v in profile.items() if k not in ORDER_DEPENDENT}
    shown["visitors"] = sorted(
        json.dumps({k: v for k, v in v.items() if k != "id"}, sort_keys=True)
        for v in profile["visitors"]
    )
    return json.dumps(shown, sort_keys=True, default=str)


async def run(srv: BenchServers, args: argparse.Namespace) -> None:
    work = Workload(args.devices, args.events)
    client = db.connect(srv.mongo.url)
    verdicts: list[str] = []
    events_of: dict[int, list[dict]] = {}  # each pair's events (one list for both runs)
    databases: dict[int, dict[int, str]] = {}
    db_cpu: dict[int, list[float]] = {1: [], 2: []}
    calls = 0

    async def measured(workers: int) -> float:
        nonlocal calls
        pair, calls = calls // 2, calls + 1
        if pair not in events_of:
            events_of[pair] = [*work.first_sight(), *work.steady(), *work.identifies()]
        done = await applied_rate(srv, workers, events_of[pair])
        databases.setdefault(pair, {})[workers] = done.database
        db_cpu[workers].append(round(done.db_cpu_ms_per_event, 2))
        if len(databases[pair]) == 2:
            one = await profiles_shown(client, databases[pair][1])
            two = await profiles_shown(client, databases[pair][2])
            verdict = f"{len(one)} profiles, {'identical' if one == two else 'DIFFERENT'}"
            progress(BENCH, f"one worker against two: {verdict}")
            verdicts.append(verdict)
        return done.per_second

    async def two_workers() -> float:
        return await measured(2)

    async def one_worker() -> float:
        return await measured(1)

    two, one = await interleaved(BENCH, "rounds", two_workers, one_worker, args.reps)
    client.close()
    count = len(events_of[0])
    settings = {
        **vars(args),
        "events_per_round": count,
        "profiles": verdicts,
        "db_cpu_ms_per_event": {f"{n} worker(s)": v for n, v in db_cpu.items()},
    }
    records = [
        Record(
            BENCH,
            f"two identity workers ({count} events)",
            "events/s",
            two,
            "one worker",
            one,
            target="> 1x; profiles identical",
            settings=settings,
        )
    ]
    for verdict in verdicts:
        print(f"profiles, one worker against two: {verdict}")
    for n, values in db_cpu.items():
        print(f"SecantusDB CPU per event, {n} worker(s): {values} ms")
    finish(BENCH, records, settings)
    if any("DIFFERENT" in v for v in verdicts):
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=300)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with servers() as s:
        asyncio.run(run(s, args))


if __name__ == "__main__":
    main()

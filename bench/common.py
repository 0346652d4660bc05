"""Shared by the benchmarks: embedded servers in a temp dir, timing and printing."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from shared.bus import Bus
from shared.embedded import EmbeddedServer, start_mongo, start_nats
from shared.settings import Settings
from shared.subjects import Subjects


@dataclass
class BenchServers:
    nats: EmbeddedServer
    mongo: EmbeddedServer
    data_dir: Path


@contextlib.contextmanager
def servers(with_mongo: bool = True) -> Iterator[BenchServers]:
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        data = Path(tmp)
        nats = start_nats(data)
        mongo = start_mongo(data) if with_mongo else None
        try:
            yield BenchServers(nats, mongo, data)  # type: ignore[arg-type]
        finally:
            nats.stop()
            if mongo:
                mongo.stop()


def bench_settings(srv: BenchServers, **env: str) -> Settings:
    """Settings for services run in-process on these servers, in a namespace of their own."""
    prefix = "b" + uuid.uuid4().hex[:8]
    return Settings.from_env(
        {
            "PARLEY_DATA_DIR": str(srv.data_dir / "data"),
            "NATS_URL": srv.nats.url,
            "MONGO_URL": srv.mongo.url if srv.mongo else "",
            "PARLEY_SUBJECT_PREFIX": prefix,
            "PARLEY_DB_PREFIX": prefix,
            "PARLEY_LOG_LEVEL": "WARNING",
            **env,
        }
    )


async def bench_bus(settings: Settings) -> Bus:
    bus = Bus(settings.nats_url, Subjects(settings.subject_prefix), "bench")
    await bus.connect()
    return bus


async def serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, int]:
    """Run an app on 127.0.0.1 (startup contexts included); the runner and its port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


class Timer:
    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


async def timed(call: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    """The seconds each of `n` calls in a row took."""
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def fetch_and_ack(sub: Any, count: int, batch: int) -> None:
    """Raw nats-py pull consumer baseline: `fetch(batch)` and ack each until `count` are in."""
    got = 0
    while got < count:
        msgs = await sub.fetch(batch, timeout=5)
        for msg in msgs:
            await msg.ack()
        got += len(msgs)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def summary_ms(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"median {statistics.median(ms):.2f} ms, p95 {percentile(ms, 95):.2f} ms (n={len(ms)})"


def report(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n== {title}")
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")

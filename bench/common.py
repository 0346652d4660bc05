"""Shared by the benchmarks: embedded servers in a temp dir, timing and printing."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.embedded import EmbeddedServer, start_mongo, start_nats


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


class Timer:
    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


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

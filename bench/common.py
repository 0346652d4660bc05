"""Shared by the benchmarks: embedded servers in a temp dir, timing, and the suite's frame
(repetitions interleaved with the baseline, `Record`s, the JSON in bench/results/, the table)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
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
            # any free port: the default 9180.. clashes with a running system or another bench
            "PARLEY_METRICS_PORT": "0",
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


# --- the suite's frame: repetitions interleaved with their baseline, records, JSON, table ----

RESULTS_DIR = Path(__file__).parent / "results"
# `python -m bench` sets it: every module of one run appends to the same JSON file
RUN_FILE_ENV = "PARLEY_BENCH_RUN_FILE"
PACKAGES = ("aiohttp", "nats-py", "msgspec", "motor", "pymongo", "uvloop", "secantusdb")


@dataclass
class Record:
    """One figure of a benchmark beside its baseline from the same run (higher = better
    unless `lower_is_better`), each over the repetitions."""

    bench: str
    case: str
    unit: str
    values: list[float]
    baseline: str
    baseline_values: list[float]
    target: str = ""
    lower_is_better: bool = False
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline_values) if self.baseline_values else 0.0

    @property
    def ratios(self) -> list[float]:
        """Each repetition against its own baseline, measured back to back with it."""
        return [v / b for v, b in zip(self.values, self.baseline_values, strict=False) if b]

    @property
    def ratio(self) -> float:
        """The median of the paired ratios: steadier than a ratio of medians when the
        machine's load swings between repetitions."""
        return statistics.median(self.ratios) if self.ratios else 0.0

    def spread(self, values: list[float]) -> float:
        """(max - min) / median over the repetitions, e.g. 0.08 = ±4 %."""
        med = statistics.median(values) if values else 0.0
        return (max(values) - min(values)) / med if med else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "median": self.median,
            "baseline_median": self.baseline_median,
            "ratio": self.ratio,
            "ratios": self.ratios,
            "spread": self.spread(self.values),
            "baseline_spread": self.spread(self.baseline_values),
        }


def start_run() -> None:
    """Note the machine (its load average above all) before the first figure is taken."""
    _AT_START.update(machine())


def progress(bench: str, text: str) -> None:
    """One line on stderr, so a long run shows where it is (stdout keeps the figures)."""
    print(f"[{bench} {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


async def interleaved(
    bench: str,
    case: str,
    system: Callable[[], Awaitable[float]],
    baseline: Callable[[], Awaitable[float]],
    repetitions: int,
) -> tuple[list[float], list[float]]:
    """Run system and baseline alternately (the order flipping each repetition), so the
    load of a shared machine weighs on both alike; each call returns its figure."""
    if not _AT_START:
        start_run()
    ours: list[float] = []
    theirs: list[float] = []
    for rep in range(repetitions):
        order = [(system, ours), (baseline, theirs)]
        for call, into in order if rep % 2 == 0 else order[::-1]:
            into.append(await call())
        progress(bench, f"{case}: rep {rep + 1}/{repetitions} {ours[-1]:,.1f} vs {theirs[-1]:,.1f}")
    return ours, theirs


def machine() -> dict[str, Any]:
    """Where the figures were taken: they mean little without it."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "load_average": list(os.getloadavg()),
    }


# taken when the benchmark starts (the run's first module for `python -m bench`)
_AT_START: dict[str, Any] = {}


def write_results(bench: str, records: list[Record], settings: dict[str, Any]) -> Path:
    """Append this benchmark's records to the run's JSON file (or a file of its own)."""
    target = os.environ.get(RUN_FILE_ENV)
    path = (
        Path(target) if target else RESULTS_DIR / f"{bench}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    run: dict[str, Any] = (
        json.loads(path.read_text()) if path.exists() else {"started": time.time(), "benches": {}}
    )
    run["benches"][bench] = {
        "settings": settings,
        "machine_at_end": machine(),
        "records": [r.as_json() for r in records],
    }
    run.setdefault("machine", _AT_START or machine())
    path.write_text(json.dumps(run, indent=2))
    return path


def table(records: list[dict[str, Any]]) -> str:
    """The figures as one plain-text table (from `Record.as_json()` dicts)."""
    head = ("bench", "case", "figure", "±", "baseline", "±", "ratio", "ratios", "target")
    rows = [head]
    for r in records:
        rows.append(
            (
                r["bench"],
                r["case"],
                f"{r['median']:,.1f} {r['unit']}",
                f"{r['spread'] * 50:.0f} %",
                f"{r['baseline_median']:,.1f} ({r['baseline']})",
                f"{r['baseline_spread'] * 50:.0f} %",
                f"{r['ratio']:.2f}x",
                " ".join(f"{x:.2f}" for x in r.get("ratios", [])),
                r["target"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def finish(bench: str, records: list[Record], settings: dict[str, Any]) -> None:
    """Every framed benchmark ends here: its table on stdout, its JSON written."""
    print(f"\n== {bench}  (load average {', '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(table([r.as_json() for r in records]))
    print(f"results: {write_results(bench, records, settings)}")

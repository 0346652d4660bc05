"""What every load process is told, and how it reports back to the soak's sampler."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

REPORT_EVERY = 5.0


@dataclass(frozen=True)
class LoadPlan:
    gateway_url: str
    dashboard_url: str
    write_key: str
    secret_key: str
    admin_email: str
    admin_password: str
    visitors: int
    messages_per_second: float
    events_per_second: int
    ends_at: float  # time.time(): every load process stops by itself then

    def left(self) -> float:
        return self.ends_at - time.time()


@dataclass
class Stats:
    """Counters and latencies of one load process; sent to the sampler as plain dicts."""

    role: str
    counts: Counter = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] += n

    def error(self, what: str) -> None:
        self.counts[f"error:{what}"] += 1

    def latency(self, what: str, seconds: float) -> None:
        self.latencies.setdefault(what, []).append(seconds)

    def snapshot(self, final: bool = False) -> dict[str, Any]:
        report: dict[str, Any] = {"role": self.role, "counts": dict(self.counts), "final": final}
        if final:
            report["latencies"] = self.latencies
        return report


async def report_periodically(stats: Stats, queue: Any) -> None:
    """Put a snapshot on the multiprocessing queue every few seconds (cancelled at the end)."""
    while True:
        await asyncio.sleep(REPORT_EVERY)
        queue.put(stats.snapshot())


async def run_reporting(stats: Stats, queue: Any, load: Any) -> None:
    """Run `load` with periodic reports, then put the final one (whatever happened)."""
    reporter = asyncio.create_task(report_periodically(stats, queue))
    try:
        await load
    except Exception as exc:  # noqa: BLE001 - the soak reports it instead of a traceback
        stats.error(f"crashed: {exc!r}")
    finally:
        reporter.cancel()
        queue.put(stats.snapshot(final=True))

"""From the samples to verdicts: is each process flat after warm-up, and are the logs clean?

- RSS: a least-squares line through the samples after warm-up (MB per minute) and the
  last sample over the first one after warm-up. Flat when the growth the line predicts
  over that window stays under RSS_TOLERANCE_MB or RSS_TOLERANCE_RATIO of the warm RSS,
  whichever is larger, and the last sample is within the same bound.
- Open fds and asyncio tasks: the first sample after warm-up against the last one,
  with a small allowance for sockets and tasks that come and go.
- Logs: every JSON line at WARNING or above in the launcher's log (the services log
  there too), and any Python traceback or warning printed outside the JSON lines.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

RSS_TOLERANCE_MB = 5.0
RSS_TOLERANCE_RATIO = 0.05
COUNT_TOLERANCE = 5
COUNT_TOLERANCE_RATIO = 0.02
BAD_LEVELS = ("warning", "error", "critical")
SHOWN_MESSAGES = 20


@dataclass
class Trend:
    process: str
    rss_warm_mb: float
    rss_last_mb: float
    rss_max_mb: float
    rss_slope_mb_per_min: float
    rss_ratio: float
    fds_warm: int
    fds_last: int
    tasks_warm: float | None
    tasks_last: float | None
    cpu_percent: float  # of one core, after warm-up
    rss_flat: bool
    fds_steady: bool
    tasks_steady: bool

    @property
    def ok(self) -> bool:
        return self.rss_flat and self.fds_steady and self.tasks_steady

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}


def _steady(first: float, last: float) -> bool:
    return last - first <= max(COUNT_TOLERANCE, first * COUNT_TOLERANCE_RATIO)


def _cpu_percent(first: dict[str, Any], last: dict[str, Any], times: list[float]) -> float:
    seconds = times[-1] - times[0]
    return (last["cpu_seconds"] - first["cpu_seconds"]) / seconds * 100 if seconds else 0.0


def slope_per_minute(times: list[float], values: list[float]) -> float:
    if len(times) < 2 or len(set(times)) < 2:
        return 0.0
    return statistics.linear_regression(times, values).slope * 60


def trend(process: str, samples: list[dict[str, Any]], warm_up: float) -> Trend | None:
    """The process's figures after `warm_up` seconds; None if it was never measured then."""
    after = [s for s in samples if s["t"] >= warm_up and s["procs"].get(process)]
    if not after:
        return None
    times = [s["t"] for s in after]
    rss = [s["procs"][process]["rss_mb"] for s in after]
    first, last = after[0], after[-1]
    slope = slope_per_minute(times, rss)
    allowed = max(RSS_TOLERANCE_MB, rss[0] * RSS_TOLERANCE_RATIO)
    window_min = (times[-1] - times[0]) / 60
    tasks_warm = first["tasks"].get(process)
    tasks_last = last["tasks"].get(process)
    return Trend(
        process=process,
        rss_warm_mb=round(rss[0], 1),
        rss_last_mb=round(rss[-1], 1),
        rss_max_mb=round(max(rss), 1),
        rss_slope_mb_per_min=round(slope, 2),
        rss_ratio=round(rss[-1] / rss[0], 3) if rss[0] else 0.0,
        fds_warm=first["procs"][process]["fds"],
        fds_last=last["procs"][process]["fds"],
        tasks_warm=tasks_warm,
        tasks_last=tasks_last,
        cpu_percent=round(_cpu_percent(first["procs"][process], last["procs"][process], times), 1),
        rss_flat=slope * window_min <= allowed and rss[-1] - rss[0] <= allowed,
        fds_steady=_steady(first["procs"][process]["fds"], last["procs"][process]["fds"]),
        tasks_steady=(tasks_warm is None or tasks_last is None or _steady(tasks_warm, tasks_last)),
    )


@dataclass
class LogVerdict:
    bad_lines: int
    by_level: dict[str, int]
    distinct: list[tuple[str, int]]  # "service level: message", how many times
    stray: list[str]  # tracebacks and warnings printed outside the JSON lines

    @property
    def ok(self) -> bool:
        return self.bad_lines == 0 and not self.stray


def log_verdict(records: list[dict[str, Any]], raw_lines: list[str]) -> LogVerdict:
    bad = [r for r in records if str(r.get("level", "")).lower() in BAD_LEVELS]
    distinct = Counter(
        f"{r.get('service', '?')} {r.get('level')}: {str(r.get('msg', ''))[:200]}" for r in bad
    )
    stray = [
        line[:200]
        for line in raw_lines
        if not line.startswith("{") and ("Traceback" in line or "Warning:" in line)
    ]
    return LogVerdict(
        bad_lines=len(bad),
        by_level=dict(Counter(str(r.get("level")).lower() for r in bad)),
        distinct=distinct.most_common(SHOWN_MESSAGES),
        stray=stray[:SHOWN_MESSAGES],
    )

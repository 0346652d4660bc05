"""From the samples to verdicts: is each process flat after warm-up, and are the logs clean?

- RSS: a least-squares line through the samples after warm-up (MB per minute) and the
  last sample over the first one after warm-up. Flat when the growth the line predicts
  over that window stays under RSS_TOLERANCE_MB or RSS_TOLERANCE_RATIO of the warm RSS,
  whichever is larger, and the last sample is within the same bound.
- Open fds and asyncio tasks: the mean of the first quarter of the samples after
  warm-up against the mean of the last quarter (requests in flight come and go, so
  single samples are noisy), with an allowance of COUNT_TOLERANCE or
  COUNT_TOLERANCE_RATIO, whichever is larger.
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
COUNT_TOLERANCE_RATIO = 0.05
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
    fds_warm: float
    fds_last: float
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


def _quarters(values: list[float]) -> tuple[float, float]:
    """The means of the first and the last quarter (one value at least each)."""
    n = max(1, len(values) // 4)
    return statistics.fmean(values[:n]), statistics.fmean(values[-n:])


def _counts(after: list[dict[str, Any]], of: Any) -> tuple[float, float] | None:
    values = [v for s in after if (v := of(s)) is not None]
    return _quarters(values) if values else None


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
    slope = slope_per_minute(times, rss)
    allowed = max(RSS_TOLERANCE_MB, rss[0] * RSS_TOLERANCE_RATIO)
    window_min = (times[-1] - times[0]) / 60
    fds = _counts(after, lambda s: s["procs"][process]["fds"])
    tasks = _counts(after, lambda s: s["tasks"].get(process))
    assert fds is not None  # every sample in `after` measured the process
    cpu = _cpu_percent(after[0]["procs"][process], after[-1]["procs"][process], times)
    return Trend(
        process=process,
        rss_warm_mb=round(rss[0], 1),
        rss_last_mb=round(rss[-1], 1),
        rss_max_mb=round(max(rss), 1),
        rss_slope_mb_per_min=round(slope, 2),
        rss_ratio=round(rss[-1] / rss[0], 3) if rss[0] else 0.0,
        fds_warm=round(fds[0], 1),
        fds_last=round(fds[1], 1),
        tasks_warm=round(tasks[0], 1) if tasks else None,
        tasks_last=round(tasks[1], 1) if tasks else None,
        cpu_percent=round(cpu, 1),
        rss_flat=slope * window_min <= allowed and rss[-1] - rss[0] <= allowed,
        fds_steady=_steady(*fds),
        tasks_steady=tasks is None or _steady(*tasks),
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

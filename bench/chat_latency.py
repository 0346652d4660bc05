"""Chat latency under load: how fast a message reaches the agent, and the answer the visitor.

The whole system as a user starts it (`python -m services`, bench/load/system.py) holds
`--visitors` widget sockets (1,000) from separate load processes on loopback; `--active`
of them (200) each keep a conversation going, `--rate` messages a second in all (200):
visitors say `rate × (1 - 1/(reply_every + 1))` of them (150/s) and `--agents` (4)
signed-in agents, on the dashboard's agent socket, answer one visitor message in
`--reply-every` (3) through the dashboard's send API (50/s). Chat stores every message
before it is delivered (as the product does). Measured: visitor → agent (from the
widget's send to the frame on the agent's socket) and agent → visitor (from the POST to
the frame on the widget's socket) p50/p95/p99, the delivered fractions, send answers
other than 200 (503s), duplicates, and `busy` frames (admission control).

Baseline in the same run, interleaved: a bare aiohttp websocket relay through core NATS
(bench/load/echo.py), the same clients, rate and socket count. Target p99 ≤ 50 ms.
`--against-src <checkout>` adds the system started from another checkout (e.g. a
`git worktree add --detach /tmp/main main`) to every repetition: before/after.

    python -m bench.chat_latency                     # 1,000 sockets, 200 msg/s, 3 × 20 s
    python -m bench.chat_latency --visitors 200 --active 50 --rate 50 --seconds 8 --reps 1
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import Record, finish, percentile, progress, start_run
from bench.ingest import _hottest
from bench.load import chat
from bench.load.system import ADMIN_EMAIL, ADMIN_PASSWORD, WRITE_KEY, System, proc_figures
from shared.embedded import die_with_parent, free_port

BENCH = "chat_latency"
PROCESSES = 2  # visitor processes (the agents have one of their own)
TARGET = "p99 <= 50 ms"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chat_latency")
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--active", type=int, default=200, help="conversations going on")
    parser.add_argument("--rate", type=float, default=200.0, help="messages/s, both ways")
    parser.add_argument("--reply-every", type=int, default=3)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0, help="each measured window")
    parser.add_argument("--drain", type=float, default=5.0)
    parser.add_argument(
        "--settle", type=float, default=45.0, help="at most this long for chat to catch up"
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--against-src", default="", help="also the system from this checkout (before/after)"
    )
    parser.add_argument(
        "--profile", help="py-spy chat, dashboard, gateway, SecantusDB into this folder"
    )
    return parser.parse_args(argv)


class Bench:
    def __init__(
        self,
        args: argparse.Namespace,
        systems: dict[str, System],
        echo_port: int,
    ) -> None:
        self.args = args
        self.systems = systems  # "system" (this checkout), maybe "before" (--against-src)
        self.echo_url = f"http://127.0.0.1:{echo_port}"
        self.windows = 0
        self.results: dict[str, list[dict[str, Any]]] = {m: [] for m in (*systems, "baseline")}
        self.spawn = multiprocessing.get_context("spawn")

    def plan(self, mode: str) -> chat.ChatPlan:
        a = self.args
        visitor_rate = a.rate * a.reply_every / (a.reply_every + 1)
        system = self.systems.get(mode)
        return chat.ChatPlan(
            mode="baseline" if system is None else "system",
            gateway_url=system.url("gateway") if system else self.echo_url,
            dashboard_url=system.url("dashboard") if system else self.echo_url,
            write_key=WRITE_KEY,
            admin_email=ADMIN_EMAIL,
            admin_password=ADMIN_PASSWORD,
            visitors=a.visitors,
            active=a.active,
            visitor_rate=visitor_rate,
            reply_every=a.reply_every,
            agents=a.agents,
            seconds=a.seconds,
            drain=a.drain,
        )

    def settle(self, mode: str) -> float:
        """Wait (at most `--settle` s) until chat has stored every visitor message of the
        last window, so a backlog never counts against the next; the seconds it took."""
        system = self.systems.get(mode)
        began = time.monotonic()
        if system is None:
            return 0.0
        while time.monotonic() - began < self.args.settle:
            scraped = system.scrape("chat")
            lag = sum(v for (n, _), v in scraped.items() if n == "parley_consumer_pending")
            if scraped and lag == 0:
                break
            time.sleep(1.0)
        return time.monotonic() - began

    async def window(self, mode: str) -> float:
        """One measured window with fresh load processes; its visitor → agent p99 (ms)."""
        settled = self.settle(mode)
        plan = self.plan(mode)
        ready, start, out = self.spawn.Queue(), self.spawn.Event(), self.spawn.Queue()
        first = self.windows * self.args.visitors  # new visitors from new addresses
        self.windows += 1
        share = self.args.visitors // PROCESSES
        procs = [
            self.spawn.Process(
                target=chat.visitors_main,
                args=(plan, first + n * share, share, (ready, start), out),
                name=f"chat-visitors-{n}",
            )
            for n in range(PROCESSES)
        ]
        procs.append(
            self.spawn.Process(
                target=chat.agents_main, args=(plan, (ready, start), out), name="chat-agents"
            )
        )
        for proc in procs:
            proc.start()
        system = self.systems.get(mode)
        profiled = not self.results[mode] and mode == "system"
        watch = Watch(system, self.args, first_window=profiled) if system else None
        try:
            reports = self._run_window(procs, ready, start, out, watch)
        finally:
            for proc in procs:
                proc.join(10)
                if proc.is_alive():
                    proc.terminate()
        figures = figures_of(reports, self.args.seconds)
        figures["cores"] = watch.cores() if watch else {}
        figures["settled_seconds"] = round(settled, 1)
        self.results[mode].append(figures)
        progress(BENCH, f"{mode}: {summary(figures)}")
        return figures["v2a_p99"]

    def _run_window(
        self, procs: list[Any], ready: Any, start: Any, out: Any, watch: Watch | None
    ) -> list[dict]:
        deadline = time.monotonic() + 120
        for _ in procs:
            ready.get(timeout=max(1.0, deadline - time.monotonic()))
        start.set()
        if watch:
            watch.begin()
        reports: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.args.seconds + self.args.drain + 60
        while len(reports) < len(procs):
            try:
                reports.append(out.get(timeout=max(1.0, deadline - time.monotonic())))
            except queue.Empty:
                raise RuntimeError("a load process did not report") from None
        if watch:
            watch.end()
        return reports


class Watch:
    """The system's processes during a window: CPU (cores) of each, and py-spy profiles of
    the services in the first window when `--profile` names a folder."""

    PROFILED = ("chat", "dashboard", "gateway", "secantusdb")

    def __init__(self, system: System, args: argparse.Namespace, first_window: bool) -> None:
        self.system = system
        self.args = args
        self.spies: dict[str, tuple[subprocess.Popen, Path]] = {}
        self.profile = Path(args.profile) if args.profile and first_window else None
        self.before: dict[str, float] = {}
        self.after: dict[str, float] = {}
        self.took = 0.0

    def _cpu(self) -> dict[str, float]:
        found = {}
        for name, pids in self.system.pids().items():
            if (figures := proc_figures(pids[-1])) is not None:
                found[name] = figures.cpu_seconds
        return found

    def begin(self) -> None:
        self.before, self.took = self._cpu(), time.monotonic()
        if self.profile is None:
            return
        self.profile.mkdir(parents=True, exist_ok=True)
        pids = self.system.pids()
        spy = Path(sys.executable).parent / "py-spy"
        for name in self.PROFILED:
            path = self.profile / f"{name}.txt"
            cmd = [str(spy), "record", "-p", str(pids[name][-1]), "-d", str(int(self.args.seconds))]
            cmd += ["-r", "100", "-f", "raw", "-o", str(path), "--nonblocking"]
            self.spies[name] = (
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                path,
            )

    def end(self) -> None:
        self.after, self.took = self._cpu(), time.monotonic() - self.took
        for name, (spy, path) in self.spies.items():
            spy.wait(30)
            if path.exists():
                print(f"\n{name} under py-spy, share of samples on the stack:")
                for share, frame in _hottest(path, 30):
                    print(f"  {share * 100:5.1f} %  {frame}")

    def cores(self) -> dict[str, float]:
        return {
            name: round((self.after[name] - self.before[name]) / self.took, 2)
            for name in self.after
            if name in self.before and self.took
        }


def _ms(values: list[float], pct: float) -> float:
    return percentile([v * 1000 for v in values], pct) if values else float("nan")


def figures_of(reports: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    visitors = [r for r in reports if r["role"] == "visitors"]
    agents = next(r for r in reports if r["role"] == "agents")
    vc: dict[str, int] = {}
    for r in visitors:
        for key, n in r["counts"].items():
            vc[key] = vc.get(key, 0) + n
    ac = agents["counts"]
    v2a = agents["latencies"]
    a2v = [x for r in visitors for x in r["latencies"]]
    sent, replies = vc.get("sent", 0), ac.get("replies sent", 0)
    crashed = [k for r in reports for k in r["counts"] if k.startswith("crashed")]
    return {
        "v2a_p50": _ms(v2a, 50),
        "v2a_p95": _ms(v2a, 95),
        "v2a_p99": _ms(v2a, 99),
        "a2v_p50": _ms(a2v, 50),
        "a2v_p95": _ms(a2v, 95),
        "a2v_p99": _ms(a2v, 99),
        "v2a_delivered": ac.get("received", 0) / sent if sent else 0.0,
        "a2v_delivered": vc.get("received", 0) / replies if replies else 0.0,
        "rate": (sent + replies) / seconds,
        "sent": sent,
        "replies": replies,
        "reply_503": ac.get("reply 503", 0),
        "reply_not_200": sum(
            n
            for k, n in ac.items()
            if k.startswith("reply ") and k != "reply 200" and k != "reply sent"
        ),
        "duplicates": sum(
            r["counts"].get("duplicates", 0) + r["counts"].get("doubled", 0) for r in reports
        ),
        "busy_frames": vc.get("busy frames", 0),
        "connected": vc.get("connected", 0),
        "other": {
            k: n for k, n in {**vc, **ac}.items() if "error" in k or "closed" in k or k in crashed
        },
    }


def summary(f: dict[str, Any]) -> str:
    return (
        f"{f['rate']:.0f} msg/s, {f['connected']} sockets; v→a p50/p95/p99 {f['v2a_p50']:.1f}/"
        f"{f['v2a_p95']:.1f}/{f['v2a_p99']:.1f} ms, delivered {f['v2a_delivered']:.1%}; a→v "
        f"{f['a2v_p50']:.1f}/{f['a2v_p95']:.1f}/{f['a2v_p99']:.1f} ms, delivered "
        f"{f['a2v_delivered']:.1%}; 503s {f['reply_503']}, not-200 {f['reply_not_200']}, "
        f"duplicates {f['duplicates']}, busy {f['busy_frames']} {f['other'] or ''}"
        + (f"; cores {f['cores']}" if f.get("cores") else "")
        + (
            f"; waited {f['settled_seconds']} s for the last backlog"
            if f.get("settled_seconds")
            else ""
        )
    )


FIGURES = (
    ("v2a_p50", "visitor→agent p50", "ms", ""),
    ("v2a_p95", "visitor→agent p95", "ms", ""),
    ("v2a_p99", "visitor→agent p99", "ms", TARGET),
    ("a2v_p50", "agent→visitor p50", "ms", ""),
    ("a2v_p95", "agent→visitor p95", "ms", ""),
    ("a2v_p99", "agent→visitor p99", "ms", TARGET),
    ("v2a_delivered", "visitor→agent delivered", "share", "1.0"),
    ("a2v_delivered", "agent→visitor delivered", "share", "1.0"),
    ("reply_503", "agent sends answered 503", "count", "0"),
    ("duplicates", "duplicates", "count", "0"),
    ("busy_frames", "busy frames to widgets", "count", ""),
)


def records(
    bench: Bench, ours: str, theirs: str, label: str, settings: dict[str, Any]
) -> list[Record]:
    out = []
    for key, case, unit, target in FIGURES:
        out.append(
            Record(
                bench=BENCH,
                case=case,
                unit=unit,
                values=[f[key] for f in bench.results[ours]],
                baseline=label,
                baseline_values=[f[key] for f in bench.results[theirs]],
                target=target,
                lower_is_better=unit != "share",
                settings=settings,
            )
        )
    return out


def start_echo(port: int, nats_port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.load.echo", str(port), f"nats://127.0.0.1:{nats_port}"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent(),  # noqa: PLW1509 - prctl only
    )
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the echo baseline did not start")


async def run(args: argparse.Namespace, systems: dict[str, System], echo_port: int) -> list[Record]:
    """Each repetition: every mode once (this checkout, `before` if given, the baseline),
    the order rotating, so the machine's load weighs on all of them alike."""
    bench = Bench(args, systems, echo_port)
    modes = list(bench.results)
    case = f"{args.visitors} sockets, {args.rate:g} msg/s"
    for rep in range(args.reps):
        turn = modes[rep % len(modes) :] + modes[: rep % len(modes)]
        for mode in turn:
            await bench.window(mode)
        progress(BENCH, f"{case}: rep {rep + 1}/{args.reps} done")
    settings = {**vars(args), "visitor_processes": PROCESSES}
    for mode in modes:
        for n, figures in enumerate(bench.results[mode]):
            print(f"{mode} rep {n + 1}: {summary(figures)}")
    found = records(bench, "system", "baseline", "aiohttp + core NATS", settings)
    if "before" in bench.results:
        found += records(bench, "system", "before", "before (--against-src)", settings)
    return found


def main(argv: list[str] | None = None) -> int:
    import asyncio

    args = parse_args(argv)
    start_run()
    with tempfile.TemporaryDirectory(prefix="parley-chat-latency-") as tmp:
        systems = {"system": System(Path(tmp) / "data", Path(tmp) / "launcher.log")}
        if args.against_src:
            src = Path(args.against_src).resolve()
            systems["before"] = System(Path(tmp) / "before", Path(tmp) / "before.log", src)
        echo = None
        try:
            for name, system in systems.items():
                progress(BENCH, f"starting {name} (python -m services)")
                system.start()
            echo_port = free_port()
            nats_port = systems["system"].ports["nats"]
            echo = start_echo(echo_port, nats_port, Path(tmp) / "echo.log")
            found = asyncio.run(run(args, systems, echo_port))
        finally:
            if echo is not None:
                echo.terminate()
                echo.wait(10)
            for system in systems.values():
                system.stop()
    finish(BENCH, found, vars(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m bench` (or `make bench`): every benchmark module here, one after another, then
one table of the figures and one JSON file in bench/results/ (machine, settings, records).

    python -m bench [--only ingest,bus_overhead] [--budget-minutes 15]

Modules on the frame of bench/common.py (`finish`) land in the table; the others print
their own figures above it. `soak` is long by design and runs only on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import RESULTS_DIR, RUN_FILE_ENV, machine, table

HERE = Path(__file__).parent
SKIP = {"__init__", "__main__", "common", "seed", "soak"}  # soak runs alone: 10 minutes
# what the suite runs a module with so that all fit the budget; alone, a module runs its
# own defaults (the full-size figure its docstring and bench/README.md give)
SUITE_ARGS: dict[str, list[str]] = {
    "chat_latency": ["--seconds", "8", "--drain", "4", "--settle", "20"],
    "dashboard_inbox": ["--reps", "2"],
    "identity_paths": ["--seconds", "5", "--saturate-events", "1000", "--reps", "2"],
    "identity_scale": ["--events", "1000", "--reps", "2"],
    "identity_throughput": ["--devices", "300", "--events", "1500"],
    "idle_sockets": ["--sockets", "5000"],
    "inbox_scale": ["--conversations", "20000"],
    "mail_latency": ["--conversations", "20"],
    "search": ["--requests", "50", "--reps", "2"],
}


def _run(name: str, env: dict[str, str], seconds_left: float) -> str:
    settings = " ".join(SUITE_ARGS.get(name, [])) or "its defaults"
    print(f"\n##### bench.{name} ({settings}; {seconds_left / 60:.1f} min left)", flush=True)
    started = time.monotonic()
    try:
        code = subprocess.call(
            [sys.executable, "-m", f"bench.{name}", *SUITE_ARGS.get(name, [])],
            env=env,
            timeout=seconds_left,
        )
    except subprocess.TimeoutExpired:
        return f"{name}: stopped at the suite's time budget"
    took = time.monotonic() - started
    print(f"##### bench.{name}: {took:.0f} s", flush=True)
    return "" if code == 0 else f"{name}: exit {code}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="comma-separated module names")
    parser.add_argument("--budget-minutes", type=float, default=15.0)
    args = parser.parse_args()
    modules = sorted(p.stem for p in HERE.glob("*.py") if p.stem not in SKIP)
    if args.only:
        modules = [m for m in modules if m in args.only.split(",")]
    run_file = RESULTS_DIR / f"run-{time.strftime('%Y%m%dT%H%M%S')}.json"
    env = {**os.environ, RUN_FILE_ENV: str(run_file)}
    run_file.parent.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps({"started": time.time(), "machine": machine(), "benches": {}}))
    deadline = time.monotonic() + args.budget_minutes * 60
    failed = []
    for name in modules:
        left = deadline - time.monotonic()
        if left <= 0:
            failed.append(f"{name}: not run, over the time budget")
            continue
        if problem := _run(name, env, left):
            failed.append(problem)
    run = json.loads(run_file.read_text())
    if run["benches"]:
        records = [r for bench in run["benches"].values() for r in bench["records"]]
        print(f"\n===== suite (load average at the start {run['machine']['load_average']})")
        print(table(records))
        print(f"results: {run_file}")
    if failed:
        print("\nproblems: " + "; ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m bench` (or `make bench`): run every benchmark module here, one after another."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SKIP = {
    "__init__",
    "__main__",
    "common",
    "seed",
    "soak",  # runs alone: 10 minutes
}


def main() -> int:
    modules = sorted(p.stem for p in HERE.glob("*.py") if p.stem not in SKIP)
    failed = []
    for name in modules:
        print(f"\n##### bench.{name}", flush=True)
        if subprocess.call([sys.executable, "-m", f"bench.{name}"]) != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

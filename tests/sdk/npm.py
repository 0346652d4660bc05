"""The real npm SDKs the SDK tests drive, installed from the pinned lock.

tests/sdk/node/package.json and its lock pin `@segment/analytics-next`,
`@segment/analytics-node`, `@rudderstack/analytics-js` and `@rudderstack/rudder-sdk-node`;
they are installed once with `npm ci` into .cache/sdk-node (ignored by git) and reused
while the lock is unchanged (tests/support.npm_installed, as for axe-core)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from tests.support import npm_installed

PINNED = Path(__file__).parent / "node"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "sdk-node"
MODULES = CACHE / "node_modules"
# the browser builds the host pages load (UMD: globals AnalyticsNext and rudderanalytics)
ANALYTICS_NEXT_UMD = MODULES / "@segment" / "analytics-next" / "dist" / "umd" / "index.js"
RUDDERSTACK_UMD = (
    MODULES / "@rudderstack" / "analytics-js" / "dist" / "npm" / "modern" / "bundled" / "umd"
)


def installed() -> Path:
    """node_modules of the pinned SDKs, installed from the lock when missing or outdated."""
    return npm_installed(PINNED, CACHE)


def pinned_version(package: str) -> str:
    return json.loads((PINNED / "package.json").read_text())["dependencies"][package]


async def run_node(script: str, **env: str) -> dict[str, Any]:
    """Run a script of tests/sdk/node with the installed SDKs; its last stdout line is JSON."""
    modules = installed()
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(PINNED / script),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": os.environ.get("PATH", ""), "NODE_PATH": str(modules), **env},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, f"{script} failed ({proc.returncode}): {err.decode()[-3000:]}"
    lines = [line for line in out.decode().splitlines() if line.strip()]
    assert lines, f"{script} printed nothing; stderr: {err.decode()[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result

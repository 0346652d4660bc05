"""Helpers tests import: waiting for a condition, finding Chromium."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest


def basic_auth(key: str) -> dict[str, str]:
    """The header Segment's clients send: the workspace key as the Basic username."""
    return {"Authorization": aiohttp.encode_basic_auth(key)}


def npm_installed(pinned: Path, cache: Path) -> Path:
    """`cache`/node_modules holding what `pinned`'s package.json and lock pin: installed
    with `npm ci` when missing or when the lock changed, else reused as it is."""
    modules = cache / "node_modules"
    lock = (pinned / "package-lock.json").read_text()
    stamp = cache / "package-lock.json"
    if modules.exists() and stamp.exists() and stamp.read_text() == lock:
        return modules
    cache.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(pinned / name, cache / name)
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=cache,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return modules


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Chromium not found: run `make test` (it installs it) or set CHROMIUM_PATH")
    return path


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 10, every: float = 0.05
) -> None:
    """Wait until `check()` is true; fail with a clear message otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(every)

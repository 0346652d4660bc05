"""Services as real processes, so a fault test can kill -9 one mid-flight and start it again.

`ServiceProcess` runs `python -m services.<name>` with a test deployment's
environment (its own subject and database prefixes on the session's servers, or on
private servers for tests that kill those). `Ledger` counts what clients sent,
what was acknowledged and what ended up stored, which is what every fault test
asserts on: 0 lost and 0 duplicated among what was acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shared.embedded import EmbeddedServer, free_port

ROOT = Path(__file__).resolve().parents[2]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback only
            return resp.status
    except OSError:
        return 0


class ServiceProcess:
    """One Parley service as a child process on a free port."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = {**env, f"PARLEY_{name.upper()}_PORT": str(self.port)}
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            env=self.env,
            cwd=ROOT,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        self.starts += 1
        return self

    async def ready(self, timeout: float = 30) -> float:
        """Wait for `/readyz` to answer 200; the seconds it took."""
        started = time.monotonic()
        while _status(self.url + "/readyz") != 200:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log_tail()}")
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{self.name} not ready in {timeout}s: {self.log_tail()}")
            await asyncio.sleep(0.1)
        return time.monotonic() - started

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.proc.wait(30)

    async def crash_and_restart(self, times: int, every: float) -> list[float]:
        """kill -9 the service `times` times, `every` seconds after it is ready, starting it
        again half a second after each kill; the restart-to-ready seconds of each."""
        recoveries = []
        for _ in range(times):
            await asyncio.sleep(every)
            self.kill(signal.SIGKILL)
            await asyncio.sleep(0.5)
            self.start()
            recoveries.append(round(await self.ready(), 2))
        return recoveries

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def stop_signal(process: subprocess.Popen, seconds_stopped: float) -> None:
    """SIGSTOP a process, then SIGCONT it after `seconds_stopped` (from a timer thread)."""
    import threading

    process.send_signal(signal.SIGSTOP)
    threading.Timer(seconds_stopped, lambda: process.send_signal(signal.SIGCONT)).start()


@dataclass
class Ledger:
    """What clients sent, what the system acknowledged, and what it stored."""

    sent: list[str] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)
    refused: Counter = field(default_factory=Counter)

    def report(self, stored: list[str]) -> dict[str, int]:
        counts = Counter(stored)
        return {
            "sent": len(self.sent),
            "acknowledged": len(self.acked),
            "stored": len(counts),
            "lost": len(self.acked - set(counts)),
            "duplicated": sum(1 for n in counts.values() if n > 1),
        }


def say(what: str, figures: dict[str, object]) -> None:
    """Print a fault test's figures (shown with `pytest -s`, and in the log of a failure)."""
    line = ", ".join(f"{k} {v}" for k, v in figures.items())
    print(f"\n[fault] {what}: {line}", file=sys.stderr)


def environ_path() -> str:
    return os.environ.get("PATH", "")


class PrivateServer:
    """An embedded server of the test's own (nats-server or SecantusDB), on a fixed port
    and data dir, so that a test can kill it and bring it back on the same data."""

    def __init__(self, start: Callable[[Path, int], EmbeddedServer], data: Path) -> None:
        self.start = start
        self.data = data
        self.port = free_port()
        self.server = start(data, self.port)

    @property
    def process(self) -> subprocess.Popen:
        return self.server.process

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def restart(self) -> None:
        self.server = self.start(self.data, self.port)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGCONT)  # a test may have left it stopped
        self.server.stop()

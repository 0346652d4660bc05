"""`python -m services`: run the whole system locally.

Starts the embedded nats-server and SecantusDB (unless NATS_URL / MONGO_URL point at
existing servers), then every service as its own process; waits for each to be
healthy, restarts any of them that exits, embedded servers included (with backoff,
on the same data), and stops everything on Ctrl-C, SIGTERM or a terminal hang-up.
Every child dies with the launcher, even on kill -9 (Linux parent-death signal), and
a start first stops what a dead run left behind on the same data dir (pid files).
Data lives under PARLEY_DATA_DIR, so a restart keeps it.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from services import SERVICE_NAMES
from services.launcher_banner import banner
from shared.embedded import (
    EmbeddedServer,
    die_with_parent,
    port_open,
    start_mongo,
    start_nats,
    stop_stale,
    stop_stale_servers,
)
from shared.logs import setup_logging
from shared.settings import Settings

log = logging.getLogger("parley.launcher")

EMBEDDED_NATS_PORT = "PARLEY_EMBEDDED_NATS_PORT"
EMBEDDED_MONGO_PORT = "PARLEY_EMBEDDED_MONGO_PORT"
HEALTHY_RESET_SECONDS = 60
MAX_BACKOFF = 30.0


def _port(settings: Settings, service: str) -> int:
    return getattr(settings, f"{service}_port")


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


@dataclass
class Backoff:
    """When to start a stopped child again: 1 s, doubling to 30 s, reset after a healthy minute."""

    delay: float = 1.0
    restart_at: float | None = None
    restarts: int = 0

    def schedule(self, now: float, started_at: float) -> float:
        if now - started_at > HEALTHY_RESET_SECONDS:
            self.delay = 1.0
        wait = self.delay
        self.restart_at = now + wait
        self.delay = min(self.delay * 2, MAX_BACKOFF)
        return wait

    def due(self, now: float) -> bool:
        if self.restart_at is None or now < self.restart_at:
            return False
        self.restart_at = None
        self.restarts += 1
        return True


@dataclass
class Supervised:
    name: str
    port: int
    env: dict[str, str]
    pid_file: Path
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: Backoff = field(default_factory=Backoff)

    @property
    def marker(self) -> str:
        return f" -m services.{self.name} "

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            env=self.env,
            # the launcher stops services in order; a terminal's signals reach only it
            start_new_session=True,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - prctl only, no locks taken
        )
        self.pid_file.write_text(str(self.process.pid))
        self.started_at = time.monotonic()
        log.info("started %s", self.name, extra={"pid": self.process.pid, "port": self.port})

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self, timeout: float = 15) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %ss, killing", self.name, timeout)
                self.process.kill()
                self.process.wait()


@dataclass
class SupervisedServer:
    """An embedded server the launcher restarts, on the same port and data, if it dies."""

    start_fn: Callable[[], EmbeddedServer]
    server: EmbeddedServer
    started_at: float = field(default_factory=time.monotonic)
    backoff: Backoff = field(default_factory=Backoff)

    @property
    def name(self) -> str:
        return self.server.name

    def check(self, now: float) -> None:
        """Notice a death once, then restart when the backoff allows."""
        if self.backoff.restart_at is None and not self.server.alive():
            self.server.process.wait()
            wait = self.backoff.schedule(now, self.started_at)
            log.error(
                "%s stopped unexpectedly (exit code %s, see %s); restarting in %.0fs",
                self.name,
                self.server.process.returncode,
                self.server.log_path,
                wait,
            )
        elif self.backoff.due(now):
            self.restart(now)

    def restart(self, now: float) -> None:
        log.warning("restarting %s (restart #%d)", self.name, self.backoff.restarts)
        try:
            self.server = self.start_fn()
        except (RuntimeError, TimeoutError, OSError) as exc:
            self.started_at = now
            wait = self.backoff.schedule(time.monotonic(), now)
            log.error("%s did not start (%s); retrying in %.0fs", self.name, exc, wait)
            return
        self.started_at = time.monotonic()
        log.info("restarted %s", self.name, extra={"pid": self.server.process.pid})

    def stop(self) -> None:
        self.server.stop()


class Launcher:
    def __init__(self, settings: Settings, env: dict[str, str]) -> None:
        self.settings = settings
        self.env = env
        self.embedded: list[SupervisedServer] = []
        self.services: list[Supervised] = []
        self.stopping = threading.Event()
        self.run_dir = settings.data_dir / "run"
        self._lock: IO[str] | None = None

    def claim_data_dir(self) -> None:
        """One launcher per data dir: a second one would fight the first over its children."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        lock = (self.run_dir / "launcher.lock").open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise SystemExit(
                f"another launcher runs on {self.settings.data_dir} (pid {lock.read().strip()})"
            ) from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock = lock  # held until this process ends; the kernel releases it on death

    def _embedded(self, start_fn: Callable[[], EmbeddedServer], what: str) -> EmbeddedServer:
        server = start_fn()
        self.embedded.append(SupervisedServer(start_fn, server))
        log.info(
            "embedded %s (%s) on %s",
            server.name,
            what,
            server.url,
            extra={"pid": server.process.pid},
        )
        return server

    def start_backing_servers(self) -> None:
        data = self.settings.data_dir
        stop_stale_servers(data)  # what a dead run left holds the ports: before the checks
        if not self.env.get("NATS_URL"):
            port = int(self.env.get(EMBEDDED_NATS_PORT) or 14222)
            if port_open(port):
                raise SystemExit(f"port {port} is taken: set {EMBEDDED_NATS_PORT} or NATS_URL")
            nats = self._embedded(functools.partial(start_nats, data, port), "JetStream")
            self.env["NATS_URL"] = nats.url
        if not self.env.get("MONGO_URL"):
            port = int(self.env.get(EMBEDDED_MONGO_PORT) or 27027)
            if port_open(port):
                raise SystemExit(f"port {port} is taken: set {EMBEDDED_MONGO_PORT} or MONGO_URL")
            mongo = self._embedded(
                functools.partial(start_mongo, data, port), "SecantusDB, MongoDB wire protocol"
            )
            self.env["MONGO_URL"] = mongo.url

    def _check_ports_free(self, name: str) -> None:
        port = _port(self.settings, name)
        if port_open(port):
            raise SystemExit(f"port {port} for {name} is taken: set PARLEY_{name.upper()}_PORT")
        if name == "mail" and port_open(self.settings.mail.inbound_port):
            raise SystemExit(
                f"port {self.settings.mail.inbound_port} for mail's inbound SMTP is taken: "
                "set PARLEY_INBOUND_SMTP_PORT"
            )
        metrics = self.settings.metrics_port_of(name)
        if metrics and port_open(metrics, self.settings.metrics_host):
            raise SystemExit(
                f"metrics port {metrics} for {name} is taken: set PARLEY_METRICS_PORT (a base)"
            )

    def start_services(self, timeout: float = 60) -> None:
        for name in SERVICE_NAMES:
            # what a dead run left behind holds the port: stop it before the check
            svc = Supervised(
                name, _port(self.settings, name), self.env, self.run_dir / f"{name}.pid"
            )
            stop_stale(svc.pid_file, svc.marker)
            self._check_ports_free(name)
            svc.start()
            self.services.append(svc)
        deadline = time.monotonic() + timeout
        for svc in self.services:
            while not healthy(svc.port):
                if svc.process is not None and svc.process.poll() is not None:
                    raise SystemExit(
                        f"{svc.name} exited with {svc.process.returncode} while starting"
                    )
                if time.monotonic() > deadline:
                    raise SystemExit(f"{svc.name} not healthy after {timeout}s")
                time.sleep(0.1)
            log.info("%s healthy on port %d", svc.name, svc.port)

    def supervise_once(self) -> None:
        now = time.monotonic()
        for server in self.embedded:
            server.check(now)
        for svc in self.services:
            if svc.backoff.due(now):
                log.warning("restarting %s (restart #%d)", svc.name, svc.backoff.restarts)
                svc.start()
            elif svc.backoff.restart_at is None and svc.exited():
                wait = svc.backoff.schedule(now, svc.started_at)
                log.error(
                    "%s exited with %s; restarting in %.0fs",
                    svc.name,
                    svc.process.returncode,  # type: ignore[union-attr]
                    wait,
                )

    def run(self) -> None:
        # a hang-up (the terminal closed) stops everything like Ctrl-C does
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: self.stopping.set())
        try:
            self.claim_data_dir()
            self.start_backing_servers()
            self.start_services()
            print(banner(self.settings, self.env), flush=True)
            while not self.stopping.wait(0.5):
                self.supervise_once()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        log.info("stopping every service")
        for svc in reversed(self.services):
            svc.stop()
        for server in reversed(self.embedded):
            server.stop()
        log.info("stopped")


def main() -> None:
    env = dict(os.environ)
    # the demo site is for trying Parley locally; a gateway started alone has it off
    env.setdefault("PARLEY_DEMO", "true")
    settings = Settings.from_env(env)
    env["PARLEY_DATA_DIR"] = str(settings.data_dir)
    setup_logging("launcher", settings.log_level)
    Launcher(settings, env).run()

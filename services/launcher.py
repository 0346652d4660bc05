"""`python -m services`: run the whole system locally.

Starts the embedded nats-server and SecantusDB (unless NATS_URL / MONGO_URL point at
existing servers), then every service as its own process; waits for each to be
healthy, restarts one that exits (with backoff), and stops everything on Ctrl-C or
SIGTERM. Data lives under PARLEY_DATA_DIR, so a restart keeps it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field

from services import SERVICE_NAMES
from shared.embedded import EmbeddedServer, port_open, start_mongo, start_nats
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
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:  # noqa: S310
            return resp.status == 200
    except OSError:
        return False


@dataclass
class Supervised:
    name: str
    port: int
    env: dict[str, str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = 1.0
    restart_at: float | None = None
    history: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            env=self.env,
        )
        self.started_at = time.monotonic()
        log.info("started %s", self.name, extra={"pid": self.process.pid, "port": self.port})

    def stop(self, timeout: float = 15) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %ss, killing", self.name, timeout)
                self.process.kill()
                self.process.wait()


class Launcher:
    def __init__(self, settings: Settings, env: dict[str, str]) -> None:
        self.settings = settings
        self.env = env
        self.embedded: list[EmbeddedServer] = []
        self.services: list[Supervised] = []
        self.stopping = threading.Event()

    def start_backing_servers(self) -> None:
        data = self.settings.data_dir
        if not self.env.get("NATS_URL"):
            port = int(self.env.get(EMBEDDED_NATS_PORT) or 14222)
            if port_open(port):
                raise SystemExit(f"port {port} is taken: set {EMBEDDED_NATS_PORT} or NATS_URL")
            nats = start_nats(data, port)
            self.embedded.append(nats)
            self.env["NATS_URL"] = nats.url
            log.info(
                "embedded nats-server (JetStream) on %s", nats.url, extra={"pid": nats.process.pid}
            )
        if not self.env.get("MONGO_URL"):
            port = int(self.env.get(EMBEDDED_MONGO_PORT) or 27027)
            if port_open(port):
                raise SystemExit(f"port {port} is taken: set {EMBEDDED_MONGO_PORT} or MONGO_URL")
            mongo = start_mongo(data, port)
            self.embedded.append(mongo)
            self.env["MONGO_URL"] = mongo.url
            log.info(
                "embedded SecantusDB (MongoDB wire protocol) on %s",
                mongo.url,
                extra={"pid": mongo.process.pid},
            )

    def start_services(self, timeout: float = 60) -> None:
        for name in SERVICE_NAMES:
            port = _port(self.settings, name)
            if port_open(port):
                raise SystemExit(f"port {port} for {name} is taken: set PARLEY_{name.upper()}_PORT")
            svc = Supervised(name, port, self.env)
            svc.start()
            self.services.append(svc)
        deadline = time.monotonic() + timeout
        for svc in self.services:
            while not healthy(svc.port):
                if svc.process and svc.process.poll() is not None:
                    raise SystemExit(
                        f"{svc.name} exited with {svc.process.returncode} while starting"
                    )
                if time.monotonic() > deadline:
                    raise SystemExit(f"{svc.name} not healthy after {timeout}s")
                time.sleep(0.1)
            log.info("%s healthy on port %d", svc.name, svc.port)

    def supervise_once(self) -> None:
        now = time.monotonic()
        for svc in self.services:
            proc = svc.process
            if svc.restart_at is not None:
                if now >= svc.restart_at:
                    svc.restart_at = None
                    svc.restarts += 1
                    log.warning("restarting %s (restart #%d)", svc.name, svc.restarts)
                    svc.start()
                continue
            if proc is not None and proc.poll() is not None:
                if now - svc.started_at > HEALTHY_RESET_SECONDS:
                    svc.backoff = 1.0
                log.error(
                    "%s exited with %s; restarting in %.0fs",
                    svc.name,
                    proc.returncode,
                    svc.backoff,
                )
                svc.restart_at = now + svc.backoff
                svc.backoff = min(svc.backoff * 2, MAX_BACKOFF)
        for server in self.embedded:
            if not server.alive():
                log.error("%s stopped unexpectedly (see %s)", server.name, server.log_path)

    def run(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())
        try:
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


def banner(settings: Settings, env: dict[str, str]) -> str:
    gw, dash = settings.public_url, settings.dashboard_url
    return f"""
  Parley is running.                      (Ctrl-C stops everything)

  Widget demo site   {gw}/demo/
  Dashboard          {dash}/          sign in: {settings.admin_email} / {settings.admin_password}
  Ingest API         {gw}/v1/         (Segment-compatible; OpenAPI at {gw}/v1/openapi.json)
  Widget script      {gw}/widget.js

  Default workspace keys
    write key         {settings.write_key}
    secret key        {settings.secret_key}
    identity secret   {settings.identity_secret}

  NATS   {env.get("NATS_URL")}
  Mongo  {env.get("MONGO_URL")}
  Data   {settings.data_dir}   (keys saved in secrets.json)
"""


def main() -> None:
    env = dict(os.environ)
    settings = Settings.from_env(env)
    env["PARLEY_DATA_DIR"] = str(settings.data_dir)
    setup_logging("launcher", settings.log_level)
    Launcher(settings, env).run()

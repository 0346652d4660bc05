"""The system under load, started as a user starts it: `python -m services` on free ports.

Its processes are found in the launcher's JSON log ("started <service>", "embedded
<server>"); each is measured from /proc (RSS, open fds) and, for the services, from
its metrics port.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from services import SERVICE_NAMES
from shared.embedded import die_with_parent, free_port, free_run_of_ports
from shared.logs import read_records
from shared.settings import METRICS_PORT_OFFSETS

BACKING = ("nats-server", "secantusdb")
ADMIN_EMAIL = "soak@parley.local"
ADMIN_PASSWORD = "soak-password-not-secret"
WRITE_KEY = "wk_soak_write_key"
SECRET_KEY = "sk_soak_secret_key"


@dataclass
class ProcessFigures:
    rss_mb: float
    fds: int
    cpu_seconds: float  # user + system since the process started


def proc_figures(pid: int) -> ProcessFigures | None:
    """VmRSS, the count of open fds and the CPU time of a live process; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        # after the command's closing parenthesis: state is field 3, utime/stime 14 and 15
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return ProcessFigures(int(line.split()[1]) / 1024, fds, cpu)
    return None


class System:
    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.ports = {name: free_port() for name in (*SERVICE_NAMES, "nats", "mongo")}
        self.metrics_base = free_run_of_ports(len(METRICS_PORT_OFFSETS))
        self.proc: subprocess.Popen | None = None

    # --- start and stop -----------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PARLEY_DATA_DIR": str(self.data_dir),
            "PARLEY_EMBEDDED_NATS_PORT": str(self.ports["nats"]),
            "PARLEY_EMBEDDED_MONGO_PORT": str(self.ports["mongo"]),
            "PARLEY_METRICS_PORT": str(self.metrics_base),
            "PARLEY_LOG_LEVEL": "INFO",
            "PARLEY_ADMIN_EMAIL": ADMIN_EMAIL,
            "PARLEY_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "PARLEY_WRITE_KEY": WRITE_KEY,
            "PARLEY_SECRET_KEY": SECRET_KEY,
        }
        for name in SERVICE_NAMES:
            env[f"PARLEY_{name.upper()}_PORT"] = str(self.ports[name])
        return env

    def start(self, timeout: float = 120) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services"],
            env=self.env(),
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches the soak, which stops it
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - prctl only; the soak killed: it too
        )
        deadline = time.monotonic() + timeout
        for name in SERVICE_NAMES:
            while not self.ready(name):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the launcher exited ({self.proc.returncode}): see log")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready after {timeout}s")
                time.sleep(0.5)

    def stop(self, timeout: float = 60) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    # --- where things are ---------------------------------------------------------------
    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def ready(self, service: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url(service)}/readyz", timeout=2) as resp:  # noqa: S310
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_records(self) -> list[dict[str, Any]]:
        return read_records(self.log_path)

    def pids(self) -> dict[str, list[int]]:
        """Every pid each process had (a restart adds one), launcher included."""
        found: dict[str, list[int]] = {"launcher": [self.proc.pid]} if self.proc else {}
        for record in self.log_records():
            msg, pid = record.get("msg", ""), record.get("pid")
            if not isinstance(pid, int):
                continue
            for name in (*SERVICE_NAMES, *BACKING):
                if msg in (f"started {name}", f"restarted {name}") or msg.startswith(
                    f"embedded {name} "
                ):
                    found.setdefault(name, []).append(pid)
        return found

    # --- the metrics ports --------------------------------------------------------------
    def scrape(self, service: str) -> dict[tuple[str, frozenset], float]:
        """Every sample of a service's metrics port; empty when it does not answer."""
        port = self.metrics_base + METRICS_PORT_OFFSETS[service]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
                text = resp.read().decode()
        except (urllib.error.URLError, OSError):
            return {}
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

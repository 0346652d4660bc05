"""`python -m services` as a user runs it: embedded servers, supervision, clean stop, data kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pymongo import MongoClient

from shared.embedded import free_port

pytestmark = pytest.mark.slow

SERVICES = ("identity", "chat", "gateway", "dashboard")


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback only
            return resp.status
    except OSError:
        return 0


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _log_records(path: Path) -> list[dict]:
    records = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    return records


def _pids(path: Path, service: str) -> list[int]:
    return [r["pid"] for r in _log_records(path) if r.get("msg") == f"started {service}"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


class Run:
    def __init__(self, tmp_path: Path, name: str, ports: dict[str, int]) -> None:
        self.log = tmp_path / f"{name}.log"
        self.ports = ports
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PARLEY_DATA_DIR": str(tmp_path / "data"),
            "PARLEY_EMBEDDED_NATS_PORT": str(ports["nats"]),
            "PARLEY_EMBEDDED_MONGO_PORT": str(ports["mongo"]),
            "PARLEY_LOG_LEVEL": "INFO",
        }
        for service in SERVICES:
            env[f"PARLEY_{service.upper()}_PORT"] = str(ports[service])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services"],
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )

    def healthy(self, service: str) -> bool:
        return _get(f"http://127.0.0.1:{self.ports[service]}/healthz") == 200

    def wait_all_ready(self) -> None:
        for service in SERVICES:
            _wait(
                lambda s=service: _get(f"http://127.0.0.1:{self.ports[s]}/readyz") == 200,
                60,
                f"{service} ready",
            )

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


def test_launcher_runs_supervises_stops_cleanly_and_keeps_data(tmp_path: Path) -> None:
    ports = {name: free_port() for name in (*SERVICES, "nats", "mongo")}
    run = Run(tmp_path, "first", ports)
    try:
        run.wait_all_ready()
        _wait(lambda: "Parley is running" in run.log.read_text(), 10, "the banner")
        banner = run.log.read_text()
        assert f"http://127.0.0.1:{ports['gateway']}/demo/" in banner
        assert "write key" in banner and "secret key" in banner

        mongo = MongoClient(f"mongodb://127.0.0.1:{ports['mongo']}/?directConnection=true")
        mongo.parley_launcher_check.notes.insert_one({"_id": "kept", "v": 1})
        mongo.close()

        first_pid = _pids(run.log, "identity")[-1]
        os.kill(first_pid, signal.SIGKILL)
        _wait(lambda: len(_pids(run.log, "identity")) == 2, 30, "identity restart")
        _wait(lambda: run.healthy("identity"), 30, "restarted identity healthy")
        assert any("restarting identity" in r.get("msg", "") for r in _log_records(run.log))
    finally:
        code = run.stop()
    assert code == 0
    started = [pid for s in SERVICES for pid in _pids(run.log, s)]
    started += [r["pid"] for r in _log_records(run.log) if r.get("msg", "").startswith("embedded ")]
    assert len(started) == len(SERVICES) + 1 + 2
    assert started and not [pid for pid in started if _alive(pid)]
    assert not any(run.healthy(s) for s in SERVICES)
    secrets_before = json.loads((tmp_path / "data" / "secrets.json").read_text())

    again = Run(tmp_path, "second", ports)
    try:
        again.wait_all_ready()
        mongo = MongoClient(f"mongodb://127.0.0.1:{ports['mongo']}/?directConnection=true")
        assert mongo.parley_launcher_check.notes.find_one({"_id": "kept"}) == {
            "_id": "kept",
            "v": 1,
        }
        mongo.close()
    finally:
        assert again.stop() == 0
    assert json.loads((tmp_path / "data" / "secrets.json").read_text()) == secrets_before

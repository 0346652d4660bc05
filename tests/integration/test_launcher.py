"""`python -m services` as a user runs it: embedded servers, supervision, clean stop, data kept."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from shared.bus import Bus
from shared.embedded import free_port, free_run_of_ports, start_nats
from shared.logs import read_records
from shared.subjects import Subjects
from shared.workspaces import DEFAULT_WORKSPACE_ID, Workspace

pytestmark = pytest.mark.slow

SERVICES = ("identity", "chat", "mail", "webhooks", "gateway", "dashboard")


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback only
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _ports() -> dict[str, int]:
    ports = {name: free_port() for name in (*SERVICES, "nats", "mongo", "inbound_smtp")}
    ports["metrics"] = free_run_of_ports(6)
    return ports


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _pids(path: Path, service: str) -> list[int]:
    return [r["pid"] for r in read_records(path) if r.get("msg") == f"started {service}"]


def _embedded_pids(path: Path, name: str) -> list[int]:
    """nats-server or SecantusDB: its first start and each restart."""
    return [
        r["pid"]
        for r in read_records(path)
        if (r.get("msg", "").startswith(f"embedded {name}") or r.get("msg") == f"restarted {name}")
    ]


def _children(path: Path) -> list[int]:
    pids = [pid for s in SERVICES for pid in _pids(path, s)]
    return pids + _embedded_pids(path, "nats-server") + _embedded_pids(path, "secantusdb")


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
            "PARLEY_METRICS_PORT": str(ports["metrics"]),
            "PARLEY_INBOUND_SMTP_PORT": str(ports["inbound_smtp"]),
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
            start_new_session=True,  # its own process group, like a terminal's job
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_banner(self) -> str:
        _wait(lambda: "Parley is running" in self.text(), 30, "the banner")
        return self.text()

    def ready(self, service: str) -> bool:
        return _get(f"http://127.0.0.1:{self.ports[service]}/readyz") == 200

    def healthy(self, service: str) -> bool:
        return _get(f"http://127.0.0.1:{self.ports[service]}/healthz") == 200

    def wait_all_ready(self, timeout: float = 60) -> None:
        for service in SERVICES:
            try:
                _wait(lambda s=service: self.ready(s), timeout, f"{service} ready")
            except AssertionError as exc:  # say why: what /readyz answers, what was logged
                raise AssertionError(
                    f"{exc}; /readyz: {self.readiness(service)}; log:\n{self.text()[-4000:]}"
                ) from None

    def readiness(self, service: str) -> str:
        url = f"http://127.0.0.1:{self.ports[service]}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.read().decode(errors="replace")
        except urllib.error.HTTPError as err:
            return err.read().decode(errors="replace")
        except OSError as err:
            return repr(err)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


async def _rotate_write_key(nats_url: str) -> str:
    """What the dashboard's key rotation does: a new write key in the workspace registry."""
    bus = Bus(nats_url, Subjects("parley"), "test")
    await bus.connect()
    try:
        assert bus.js is not None
        kv = await bus.js.key_value(bus.subjects.workspaces_bucket)
        stored = (await kv.get(DEFAULT_WORKSPACE_ID)).value
        assert stored is not None
        ws = Workspace.from_json(stored)
        ws.write_key = "wk_rotated_in_the_dashboard"
        await kv.put(DEFAULT_WORKSPACE_ID, ws.to_json())
        return ws.write_key
    finally:
        await bus.close()


def test_launcher_runs_supervises_stops_cleanly_and_keeps_data(tmp_path: Path) -> None:
    ports = _ports()
    run = Run(tmp_path, "first", ports)
    try:
        run.wait_all_ready()
        banner = run.wait_banner()
        secrets = json.loads((tmp_path / "data" / "secrets.json").read_text())
        assert f"http://127.0.0.1:{ports['gateway']}/demo/" in banner
        assert _get(f"http://127.0.0.1:{ports['gateway']}/demo/") == 200  # on under the launcher
        assert secrets["PARLEY_WRITE_KEY"] in banner and "secret key" in banner
        assert banner.count(secrets["PARLEY_ADMIN_PASSWORD"]) == 1  # generated now: shown once

        # metrics: on their own loopback ports, not on the public ones
        assert _get(f"http://127.0.0.1:{ports['gateway']}/metrics") == 404
        assert _get(f"http://127.0.0.1:{ports['dashboard']}/metrics") == 404
        for offset in range(5):
            assert _get(f"http://127.0.0.1:{ports['metrics'] + offset}/metrics") == 200

        mongo: MongoClient[dict[str, Any]] = MongoClient(
            f"mongodb://127.0.0.1:{ports['mongo']}/?directConnection=true"
        )
        mongo.parley_launcher_check.notes.insert_one({"_id": "kept", "v": 1})
        mongo.close()
        rotated = asyncio.run(_rotate_write_key(f"nats://127.0.0.1:{ports['nats']}"))

        first_pid = _pids(run.log, "identity")[-1]
        os.kill(first_pid, signal.SIGKILL)
        _wait(lambda: len(_pids(run.log, "identity")) == 2, 30, "identity restart")
        _wait(lambda: run.healthy("identity"), 30, "restarted identity healthy")
        assert any("restarting identity" in r.get("msg", "") for r in read_records(run.log))
    finally:
        code = run.stop()
    assert code == 0
    started = _children(run.log)
    assert len(started) == len(SERVICES) + 1 + 2
    assert started and not [pid for pid in started if _alive(pid)]
    assert not any(run.healthy(s) for s in SERVICES)
    secrets_before = json.loads((tmp_path / "data" / "secrets.json").read_text())

    again = Run(tmp_path, "second", ports)
    try:
        again.wait_all_ready()
        banner = again.wait_banner()
        mongo = MongoClient(f"mongodb://127.0.0.1:{ports['mongo']}/?directConnection=true")
        assert mongo.parley_launcher_check.notes.find_one({"_id": "kept"}) == {
            "_id": "kept",
            "v": 1,
        }
        mongo.close()
    finally:
        assert again.stop() == 0
    assert json.loads((tmp_path / "data" / "secrets.json").read_text()) == secrets_before
    # the keys in force, not the revoked one secrets.json still holds; no password again
    assert rotated in banner and secrets_before["PARLEY_WRITE_KEY"] not in banner
    assert secrets_before["PARLEY_ADMIN_PASSWORD"] not in again.text()
    assert str(tmp_path / "data" / "secrets.json") in banner


def test_embedded_servers_killed_are_restarted_on_their_data(tmp_path: Path) -> None:
    ports = _ports()
    run = Run(tmp_path, "run", ports)
    try:
        run.wait_all_ready()
        run.wait_banner()
        mongo_url = f"mongodb://127.0.0.1:{ports['mongo']}/?directConnection=true"
        with MongoClient[dict[str, Any]](mongo_url) as mongo:
            mongo.parley_launcher_check.notes.insert_one({"_id": "kept"})
        for name in ("nats-server", "secantusdb"):
            os.kill(_embedded_pids(run.log, name)[-1], signal.SIGKILL)
            _wait(lambda n=name: len(_embedded_pids(run.log, n)) == 2, 60, f"{name} back")
            run.wait_all_ready(timeout=90)
        with MongoClient[dict[str, Any]](mongo_url) as mongo:
            assert mongo.parley_launcher_check.notes.find_one({"_id": "kept"}) == {"_id": "kept"}
        time.sleep(3)  # long enough for the old loop to have logged six more errors
        records = read_records(run.log)
    finally:
        assert run.stop() == 0
    deaths = [r for r in records if "stopped unexpectedly" in r.get("msg", "")]
    assert len(deaths) == 2
    assert len([r for r in records if r.get("level") == "error"]) <= 4
    assert not [pid for pid in _children(run.log) if _alive(pid)]


def test_children_die_with_the_launcher_and_the_next_start_clears_leftovers(
    tmp_path: Path,
) -> None:
    ports = _ports()
    # a nats-server a previous run left on this data dir, holding the port
    leftover = start_nats(tmp_path / "data", ports["nats"])
    run = Run(tmp_path, "first", ports)
    try:
        run.wait_all_ready()
        assert leftover.process.wait(10) is not None  # stopped by the launcher, not by us
        children = _children(run.log)
        assert len(children) == len(SERVICES) + 2
        run.proc.send_signal(signal.SIGKILL)
        run.proc.wait(10)
        _wait(lambda: not [pid for pid in children if _alive(pid)], 20, "every child gone")
    finally:
        if run.proc.poll() is None:
            run.stop()

    again = Run(tmp_path, "second", ports)  # same data, same ports: nothing left holds them
    try:
        again.wait_all_ready()
        again.wait_banner()
        children = _children(again.log)
        os.killpg(again.proc.pid, signal.SIGHUP)  # the terminal closed
        assert again.proc.wait(60) == 0
    finally:
        if again.proc.poll() is None:
            again.stop()
    _wait(lambda: not [pid for pid in children if _alive(pid)], 20, "every child gone")
    assert not any(again.healthy(s) for s in SERVICES)

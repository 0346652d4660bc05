"""Start the embedded servers: the real `nats-server` (JetStream) and SecantusDB.

SecantusDB is GPL-2.0: Parley only runs it as a separate server process over the
MongoDB wire protocol and never imports it, so Parley's own licence is unaffected.
Used by the launcher (`python -m services`) and by the test fixtures.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _binary(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: install the project (pip install -e .)")
    return found


@dataclass
class EmbeddedServer:
    name: str
    port: int
    url: str
    process: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(
    name: str, cmd: list[str], port: int, url: str, log_path: Path, timeout: float
) -> EmbeddedServer:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    server = EmbeddedServer(name, port, url, process, log_path)
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} exited with {process.returncode}; log {log_path}:\n{tail}")
        if time.monotonic() > deadline:
            server.stop()
            raise TimeoutError(
                f"{name} did not open port {port} within {timeout}s (log {log_path})"
            )
        time.sleep(0.05)
    return server


def start_nats(data_dir: Path, port: int | None = None, timeout: float = 20) -> EmbeddedServer:
    port = port or free_port()
    store = data_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    cmd = [_binary("nats-server"), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)]
    return _start(
        "nats-server",
        cmd,
        port,
        f"nats://127.0.0.1:{port}",
        data_dir / "logs" / "nats.log",
        timeout,
    )


def start_mongo(data_dir: Path, port: int | None = None, timeout: float = 30) -> EmbeddedServer:
    port = port or free_port()
    store = data_dir / "mongo"
    store.mkdir(parents=True, exist_ok=True)
    cmd = [
        _binary("secantusd-py"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(store),
        "--log-level",
        "WARNING",
        "--sync-on-commit",  # an acknowledged write survives a crash of the server
    ]
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    return _start("secantusdb", cmd, port, url, data_dir / "logs" / "mongo.log", timeout)

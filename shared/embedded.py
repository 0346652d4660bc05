"""Start the embedded servers: the real `nats-server` (JetStream) and SecantusDB.

SecantusDB is GPL-2.0: Parley only runs it as a separate server process over the
MongoDB wire protocol and never imports it, so Parley's own licence is unaffected.
Used by the launcher (`python -m services`) and by the test fixtures.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("parley.embedded")

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_run_of_ports(count: int) -> int:
    """A base port with `count` free ports from it (the services' metrics ports)."""
    for _ in range(50):
        base = free_port()
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no run of {count} free ports")


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


def die_with_parent() -> Callable[[], None]:
    """A `preexec_fn`: the child gets SIGTERM when the process that started it dies.

    Linux's parent-death signal, so a launcher killed with SIGKILL leaves nothing
    running. It fires when the *thread* that forked exits: start children from the
    main thread. Elsewhere (not Linux) it does nothing.
    """
    parent = os.getpid()

    def preexec() -> None:
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def stop_stale(pid_file: Path, marker: str, timeout: float = 10) -> int | None:
    """Stop a process a previous run left behind (its pid file, and `marker` in its command line).

    Returns the pid stopped, or None. The marker guards against a pid the system
    has since given to an unrelated process.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if pid == os.getpid() or marker not in _cmdline(pid):
        return None
    log.warning("stopping a stale process left by a previous run", extra={"pid": pid})
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while marker in _cmdline(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if marker in _cmdline(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while marker in _cmdline(pid):
            time.sleep(0.05)
    with contextlib.suppress(OSError):
        pid_file.unlink()
    return pid


def _pid_file(store: Path) -> Path:
    return store.parent / f"{store.name}.pid"


def stop_stale_server(store: Path) -> int | None:
    """Stop an embedded server a dead run left running on `store` (its data)."""
    return stop_stale(_pid_file(store), f" {store} ")


def stop_stale_servers(data_dir: Path) -> None:
    for store in ("nats", "mongo"):
        stop_stale_server(data_dir / store)


@dataclass
class EmbeddedServer:
    name: str
    port: int
    url: str
    process: subprocess.Popen[bytes]
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
    name: str, cmd: list[str], port: int, url: str, store: Path, log_path: Path, timeout: float
) -> EmbeddedServer:
    """Start a server on `store` (stopping one a dead run left on it first); wait for its port."""
    stop_stale_server(store)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        # its own session: a terminal's Ctrl-C or hang-up reaches the launcher, which
        # stops the services before the servers they need; die_with_parent covers kill -9
        process = subprocess.Popen(
            cmd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - prctl only, no locks taken
        )
    _pid_file(store).write_text(str(process.pid))
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
        store,
        data_dir / "logs" / "nats.log",
        timeout,
    )


def start_mongo(
    data_dir: Path, port: int | None = None, timeout: float = 30, *, sync_on_commit: bool = True
) -> EmbeddedServer:
    """SecantusDB on `port`; `sync_on_commit=False` only to show what a crash then loses."""
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
    ]
    if sync_on_commit:
        cmd.append("--sync-on-commit")  # an acknowledged write survives a crash of the server
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    return _start("secantusdb", cmd, port, url, store, data_dir / "logs" / "mongo.log", timeout)

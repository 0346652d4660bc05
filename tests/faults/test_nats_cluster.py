"""The 3-node JetStream cluster of `deploy/nats/`, one node killed during ingest: nothing lost.

The node configs are the deployment's own files, with their host names, ports
and store directories rewritten to loopback and the test's temp dir, so a change
to them that breaks the cluster breaks this test.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import nats
import pytest

from services.gateway.app import create_app
from shared.embedded import free_port, port_open
from shared.settings import Settings
from shared.subjects import Subjects
from tests.conftest import Servers, make_env
from tests.faults.conftest import Spawn
from tests.faults.harness import ROOT, Ledger, say
from tests.faults.ingest_load import wait_stored
from tests.support import basic_auth, eventually

pytestmark = pytest.mark.slow

NODES = (1, 2, 3)


class Cluster:
    def __init__(self, tmp: Path) -> None:
        self.client_ports = {n: free_port() for n in NODES}
        self.route_ports = {n: free_port() for n in NODES}
        self.processes: dict[int, subprocess.Popen] = {}
        self.tmp = tmp
        for n in NODES:
            self.processes[n] = self._start(n)

    def _config(self, n: int) -> Path:
        text = (ROOT / "deploy" / "nats" / f"node{n}.conf").read_text()
        text = re.sub(r"listen: 0\.0\.0\.0:4222", f"listen: 127.0.0.1:{self.client_ports[n]}", text)
        text = re.sub(r"http: 0\.0\.0\.0:8222", f"http: 127.0.0.1:{free_port()}", text)
        text = re.sub(r"listen: 0\.0\.0\.0:6222", f"listen: 127.0.0.1:{self.route_ports[n]}", text)
        for m in NODES:
            text = text.replace(f"parley-nats-{m}:6222", f"127.0.0.1:{self.route_ports[m]}")
        text = text.replace("/data/jetstream", str(self.tmp / f"js{n}"))
        text = re.sub(r"max_file_store: \S+", "max_file_store: 1G", text)
        path = self.tmp / f"node{n}.conf"
        path.write_text(text)
        return path

    def _start(self, n: int) -> subprocess.Popen:
        log = (self.tmp / f"node{n}.log").open("ab")
        binary = Path(__import__("sys").executable).parent / "nats-server"
        return subprocess.Popen([str(binary), "-c", str(self._config(n))], stdout=log, stderr=log)

    @property
    def url(self) -> str:
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.client_ports.values())

    async def ready(self) -> None:
        """Every node listening and JetStream answering with a meta leader."""
        await eventually(
            lambda: asyncio.sleep(0, all(port_open(p) for p in self.client_ports.values())),
            timeout=20,
        )

        async def jetstream_up() -> bool:
            try:
                nc = await nats.connect(self.url.split(","), connect_timeout=1)
            except Exception:  # noqa: BLE001 - not yet
                return False
            try:
                await nc.jetstream().account_info()
                return True
            except Exception:  # noqa: BLE001 - no meta leader yet
                return False
            finally:
                await nc.close()

        await eventually(jetstream_up, timeout=30, every=0.5)

    async def stream_leader(self, settings: Settings) -> int:
        """The node leading the events stream (the hardest one to lose)."""
        nc = await nats.connect(self.url.split(","))
        try:
            info = await nc.jetstream().stream_info(Subjects(settings.subject_prefix).events_stream)
        finally:
            await nc.close()
        assert info.cluster is not None and info.cluster.leader
        return int(info.cluster.leader.rsplit("-", 1)[-1])

    def kill(self, n: int) -> None:
        self.processes[n].send_signal(signal.SIGKILL)
        self.processes[n].wait(10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
                process.wait(10)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    nodes = Cluster(tmp_path)
    yield nodes
    nodes.stop()


async def test_the_stream_leader_of_three_killed_during_ingest_loses_nothing(
    cluster: Cluster, aiohttp_server, servers: Servers, spawn: Spawn, tmp_path: Path
) -> None:
    # `cluster` first: it is torn down last, after the gateway's bus has closed
    await cluster.ready()
    env = make_env(
        servers,
        tmp_path / "data",
        # one seed is enough: clients learn the other nodes from the cluster
        NATS_URL=f"nats://127.0.0.1:{cluster.client_ports[1]}",
        PARLEY_STREAM_REPLICAS="3",
    )
    settings = Settings.from_env(env)
    gateway = await aiohttp_server(create_app(settings))
    identity = spawn("identity", env)
    await identity.ready(timeout=60)

    run = uuid.uuid4().hex[:8]
    ledger = Ledger()
    url = f"http://127.0.0.1:{gateway.port}/v1/batch"
    async with aiohttp.ClientSession(headers=basic_auth(settings.secret_key)) as session:

        async def send(n: int) -> None:
            mid = f"{run}-{n:05d}"
            ledger.sent.append(mid)
            body = {"batch": [{"type": "track", "userId": "u", "event": "Tick", "messageId": mid}]}
            for _attempt in range(30):
                async with session.post(url, json=body) as resp:
                    if resp.status == 200:
                        ledger.acked.add(mid)
                        return
                    ledger.refused[resp.status] += 1
                await asyncio.sleep(0.5)

        started = time.monotonic()
        for n in range(300):
            if n == 100:
                killed = await cluster.stream_leader(settings)
                cluster.kill(killed)
            await send(n)
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - started

    figures = await wait_stored(settings, run, ledger)
    say(
        f"3-node cluster, stream leader (node {killed}) killed",
        {**figures, **dict(ledger.refused), "s": round(elapsed, 1)},
    )
    assert figures["acknowledged"] == 300
    assert figures["lost"] == 0 and figures["duplicated"] == 0

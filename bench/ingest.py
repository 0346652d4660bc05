"""Ingest: `/v1/batch` events accepted per second against raw nats-py JetStream publish.

A 200 from the gateway means every event of the batch is stored in JetStream, so the
baseline is the same Segment messages published straight to the same stream with
nats-py (`js.publish` per message, a batch's acks gathered), at the same concurrency.
The gateway runs as its own process (`python -m services.gateway`); the load comes
from two more processes on loopback, each holding half the clients, started together
and counted over the same window. Target: >= 0.60x of raw.

    python -m bench.ingest [--batches 1,20,100] [--clients 8,32] [--seconds 4] [--reps 3]
    python -m bench.ingest --batches 20 --clients 8 --seconds 2 --reps 1   # quick
    python -m bench.ingest --against-src /tmp/main-checkout   # + before/after, interleaved
    python -m bench.ingest --profile /tmp/gw.txt --batches 20 --clients 8 --seconds 8
        # the gateway under py-spy (`pip install py-spy`): its hottest functions, no ratios
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import nats

from bench.common import Record, bench_settings, finish, interleaved, progress, servers
from shared.settings import Settings
from shared.subjects import Subjects

BENCH = "ingest"
WORKERS = 2
# a message as analytics.js sends it (context included), ~700 bytes
MESSAGE = {
    "type": "track",
    "event": "Product Viewed",
    "anonymousId": "anon-@@ANON@@",
    "messageId": "@@ID@@",
    "timestamp": "2026-12-01T10:00:00.000Z",
    "properties": {"product_id": "p-123", "price": 19.99, "currency": "EUR", "list": "home"},
    "context": {
        "library": {"name": "analytics.js", "version": "5.2.0"},
        "page": {
            "path": "/products/p-123",
            "url": "https://shop.example/products/p-123",
            "title": "A product",
            "referrer": "https://www.google.com/",
        },
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36",
        "locale": "en-GB",
        "campaign": {"source": "newsletter", "medium": "email"},
    },
}
TEMPLATE = json.dumps(MESSAGE, separators=(",", ":")).encode()


def messages(tag: str, start: int, count: int) -> list[tuple[str, bytes]]:
    """`count` distinct messages (their ids unique in the run) and their ids."""
    out = []
    for n in range(start, start + count):
        mid = f"{tag}-{n}"
        body = TEMPLATE.replace(b"@@ID@@", mid.encode()).replace(b"@@ANON@@", str(n % 500).encode())
        out.append((mid, body))
    return out


# --- the load processes -------------------------------------------------------------------


async def _gateway_client(job: dict[str, Any], tag: str, stop_at: float) -> tuple[int, int]:
    auth = "Basic " + base64.b64encode(f"{job['key']}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    done = errors = sent = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as http:
        while time.time() < stop_at:
            batch = messages(tag, sent, job["batch"])
            sent += len(batch)
            body = b'{"batch":[' + b",".join(m for _, m in batch) + b"]}"
            async with http.post(job["url"], data=body, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
                elif time.time() <= stop_at:
                    done += len(batch)
    return done, errors


async def _raw_client(job: dict[str, Any], tag: str, stop_at: float) -> tuple[int, int]:
    nc = await nats.connect(job["nats_url"])
    js = nc.jetstream()
    done = errors = sent = 0
    try:
        while time.time() < stop_at:
            batch = messages(tag, sent, job["batch"])
            sent += len(batch)
            try:
                await asyncio.gather(
                    *(
                        js.publish(job["subject"], body, headers={"Nats-Msg-Id": mid})
                        for mid, body in batch
                    )
                )
            except Exception:  # noqa: BLE001 - counted, the run goes on
                errors += 1
                continue
            if time.time() <= stop_at:
                done += len(batch)
    finally:
        await nc.close()
    return done, errors


async def _worker(job: dict[str, Any]) -> dict[str, Any]:
    client = _gateway_client if job["mode"] == "gateway" else _raw_client
    await asyncio.sleep(max(0.0, job["start_at"] - time.time()))
    stop_at = job["start_at"] + job["seconds"]
    results = await asyncio.gather(
        *(client(job, f"{job['tag']}-{i}", stop_at) for i in range(job["clients"]))
    )
    return {"events": sum(d for d, _ in results), "errors": sum(e for _, e in results)}


# --- the run --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Gateway:
    """`python -m services.gateway` in its own process, on the benchmark's servers."""

    def __init__(self, settings: Settings, nats_url: str, source: str = "") -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            **({"PYTHONPATH": source} if source else {}),  # another checkout's code first
            "PARLEY_DATA_DIR": str(settings.data_dir),
            "NATS_URL": nats_url,
            "MONGO_URL": "mongodb://127.0.0.1:1/",  # the gateway needs none
            "PARLEY_SUBJECT_PREFIX": settings.subject_prefix,
            "PARLEY_DB_PREFIX": settings.db_prefix,
            "PARLEY_GATEWAY_PORT": str(self.port),
            "PARLEY_METRICS_PORT": "0",
            "PARLEY_LOG_LEVEL": "WARNING",
            "PARLEY_INGEST_RATE": "1000000",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.gateway"], env=env, cwd=source or None
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(self.url + "/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("the gateway did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)


async def _load(job: dict[str, Any], cpu_of: int | None = None) -> tuple[float, float]:
    """Events/s summed over the load processes, and the gateway's cores used meanwhile."""
    job = {**job, "start_at": time.time() + 1.5, "clients": job["clients"] // WORKERS}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.ingest",
            "--worker",
            json.dumps({**job, "tag": f"{job['tag']}-{i}"}),
            stdout=asyncio.subprocess.PIPE,
        )
        for i in range(WORKERS)
    ]
    await asyncio.sleep(max(0.0, job["start_at"] - time.time()))
    cpu_before = _cpu_seconds(cpu_of) if cpu_of else 0.0
    outs = [json.loads((await p.communicate())[0]) for p in procs]
    cpu = (_cpu_seconds(cpu_of) - cpu_before) / job["seconds"] if cpu_of else 0.0
    if errors := sum(o["errors"] for o in outs):
        progress(BENCH, f"{job['mode']}: {errors} failed requests")
    return sum(o["events"] for o in outs) / job["seconds"], cpu


def _hottest(collapsed: Path, top: int = 25) -> list[tuple[float, str]]:
    """Share of samples each function is on the stack in (py-spy's raw output)."""
    seen: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        for frame in set(stack.split(";")):
            seen[frame] = seen.get(frame, 0) + int(count)
    ranked = sorted(seen.items(), key=lambda kv: -kv[1])[:top]
    return [(n / total, frame) for frame, n in ranked]


async def profile(args: argparse.Namespace, gateway: Gateway, base: dict[str, Any]) -> None:
    out = Path(args.profile)
    beside = Path(sys.executable).parent / "py-spy"  # installed in the venv, or on PATH
    spy = await asyncio.create_subprocess_exec(
        str(beside) if beside.exists() else "py-spy",
        "record",
        "-p",
        str(gateway.proc.pid),
        "-d",
        str(int(args.seconds) + 2),
        "-r",
        "200",
        "-f",
        "raw",
        "-o",
        str(out),
        "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL,
    )
    job = {**base, "batch": args.batches[0], "clients": args.clients[0]}
    rate, cores = await _load(
        {**job, "mode": "gateway", "tag": uuid.uuid4().hex[:8]}, gateway.proc.pid
    )
    await spy.wait()
    print(f"gateway: {rate:,.0f} events/s at {cores:.2f} cores; on the stack in % of samples:")
    for share, frame in _hottest(out):
        print(f"  {share * 100:5.1f} %  {frame}")


async def _against(
    before: Gateway,
    job: dict[str, Any],
    case: str,
    ours: Callable[[], Awaitable[float]],
    reps: int,
) -> Record:
    """This checkout's gateway against another's (`--against-src`), interleaved."""

    async def theirs() -> float:
        old = {**job, "url": before.url + "/v1/batch"}
        return (await _load({**old, "mode": "gateway", "tag": uuid.uuid4().hex[:8]}))[0]

    values, baseline = await interleaved(BENCH, case + " vs before", ours, theirs, reps)
    return Record(BENCH, case, "events/s", values, "gateway before", baseline)


async def run(args: argparse.Namespace) -> None:
    records = []
    with servers(with_mongo=False) as srv:
        settings = bench_settings(srv)
        subjects = Subjects(settings.subject_prefix)
        gateway = Gateway(settings, srv.nats.url)
        before = Gateway(settings, srv.nats.url, args.against_src) if args.against_src else None
        try:
            await gateway.ready()
            if before:
                await before.ready()
            base = {
                "url": gateway.url + "/v1/batch",
                "key": settings.write_key,
                "nats_url": srv.nats.url,
                "subject": subjects.events("default", "track"),
                "seconds": args.seconds,
            }
            if args.profile:
                await profile(args, gateway, base)
                return
            for batch in args.batches:
                for clients in args.clients:
                    case = f"batch {batch}, {clients} clients"
                    job = {**base, "batch": batch, "clients": clients}
                    cpu: list[float] = []

                    async def ours(job: dict[str, Any] = job, cpu: list[float] = cpu) -> float:
                        rate, used = await _load(
                            {**job, "mode": "gateway", "tag": uuid.uuid4().hex[:8]},
                            gateway.proc.pid,
                        )
                        cpu.append(used)
                        return rate

                    async def raw(job: dict[str, Any] = job) -> float:
                        return (await _load({**job, "mode": "raw", "tag": uuid.uuid4().hex[:8]}))[0]

                    values, baseline = await interleaved(BENCH, case, ours, raw, args.reps)
                    records.append(
                        Record(
                            BENCH,
                            case,
                            "events/s",
                            values,
                            "raw js.publish",
                            baseline,
                            target=">= 0.60x",
                            settings={"gateway_cores": cpu},
                        )
                    )
                    if before:
                        records.append(await _against(before, job, case, ours, args.reps))
        finally:
            gateway.stop()
            if before:
                before.stop()
    finish(BENCH, records, {**vars(args), "load_processes": WORKERS})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--batches", type=lambda s: [int(x) for x in s.split(",")], default=[1, 20, 100]
    )
    parser.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[8, 32])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--against-src", default="", help="also a gateway from this checkout")
    parser.add_argument("--profile", help="py-spy the gateway into this file instead")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(_worker(json.loads(args.worker)))))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

"""Connections: idle visitor sockets held by ONE gateway process, against a bare aiohttp socket.

The gateway is `python -m services.gateway` in its own process with its real limits
(20 open sockets per IP): the load processes (separate, on loopback) spread their
sockets over source addresses 127.1.x.y, 15 per address, open them with bounded
concurrency, say hello and wait for the answer (welcome, presence, history), then
hold them idle, answering the gateway's heartbeat pings. A stand-in for chat in this
process answers `presence.get` and `history` as chat does for a new visitor (no
conversation), so each hello runs its full path without the database in the
measurement. The baseline is a bare aiohttp websocket server (no deflate, no
heartbeat, a reader per socket) in its own process, holding the same number of
sockets from the same load processes (which send it the same hello). Interleaved, 3
repetitions, the order flipping each time.

Measured in the server process alone: its RSS from /proc before the sockets (after
one warm-up visitor) and once all are held, per socket; then `/healthz` latency
p50/p99 over sequential requests while they are held. Target: 20,000 sockets at
<= 1.10x the bare socket's memory. A process may hold at most RLIMIT_NOFILE
descriptors: the soft limit is raised to the hard one in every process here, and
the socket count is capped a margin below it (said in the progress lines).

    python -m bench.idle_sockets [--sockets 20000] [--reps 3] [--load-procs 4]
    python -m bench.idle_sockets --sockets 2000 --reps 1        # quick
    python -m bench.idle_sockets --against-src /tmp/main        # + another checkout's gateway
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.common import (
    Record,
    bench_bus,
    bench_settings,
    finish,
    interleaved,
    percentile,
    progress,
    servers,
)
from bench.ingest import Gateway, _free_port
from shared.bus import Bus
from shared.schema import builtins
from shared.schema.chat_replies import History

BENCH = "idle_sockets"
PER_ADDRESS = 15  # under the gateway's 20 open sockets and 30 connects per IP
FD_MARGIN = 100  # descriptors a server needs besides its sockets (NATS, listener, logs)
# the last frame of the gateway's answer to a hello: the history, or the error saying
# it is unavailable (the socket stays up: the widget retries with a resync)
HELLO_ENDS = ("history", "error")
HELLO = json.dumps({"type": "hello", "token": None, "page": {"url": "https://shop.example/"}})


def raise_fd_limit() -> int:
    """The soft RLIMIT_NOFILE raised to the hard one (inherited by child processes)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


# --- the bare baseline server (its own process) --------------------------------------------


def bare_app() -> web.Application:
    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/v1/widget/ws", socket)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", healthz)
    return app


class BareServer(Gateway):
    """The baseline in a process of its own; `url`, `ready` (its /readyz) as the gateway's."""

    def __init__(self) -> None:  # no gateway settings: none of the gateway runs
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.idle_sockets", "--serve-bare", str(self.port)]
        )

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not ended in a minute (a server letting go of
    20,000 sockets on a busy 2-core box takes a while)."""
    started = time.monotonic()
    proc.terminate()
    try:
        proc.wait(60)
        progress(BENCH, f"pid {proc.pid} stopped in {time.monotonic() - started:.1f} s")
    except subprocess.TimeoutExpired:
        progress(BENCH, f"pid {proc.pid} still running a minute after SIGTERM: killed")
        proc.kill()
        proc.wait()


# --- the load processes ----------------------------------------------------------------------


async def _hold(job: dict[str, Any]) -> None:
    """Open `count` sockets from addresses 127.1.x.y, hello each, print the count held,
    then keep reading (pings answered) until stdin closes."""
    raise_fd_limit()
    gate = asyncio.Semaphore(job["concurrency"])
    sessions: list[aiohttp.ClientSession] = []
    readers: list[asyncio.Task[None]] = []
    url = f"{job['url']}/v1/widget/ws?key={job['key']}"
    failed = 0

    async def keep_reading(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for _ in ws:
            pass

    async def one(http: aiohttp.ClientSession) -> None:
        nonlocal failed
        async with gate:
            try:
                ws = await http.ws_connect(url, headers={"Origin": job["url"]}, compress=0)
                await ws.send_str(HELLO)
                if job["answered"]:  # the gateway: wait for the end of its answer
                    while (await ws.receive_json(timeout=30)).get("type") not in HELLO_ENDS:
                        pass
            except (aiohttp.ClientError, TimeoutError, ValueError, TypeError):
                failed += 1
                return
        readers.append(asyncio.create_task(keep_reading(ws)))

    opening = []
    for n in range(0, job["count"], PER_ADDRESS):
        address = job["first_address"] + n // PER_ADDRESS
        ip = f"127.1.{address // 250}.{address % 250 + 1}"
        connector = aiohttp.TCPConnector(limit=0, local_addr=(ip, 0))
        http = aiohttp.ClientSession(connector=connector)
        sessions.append(http)
        opening += [one(http) for _ in range(min(PER_ADDRESS, job["count"] - n))]
    await asyncio.gather(*opening)
    print(json.dumps({"held": len(readers), "failed": failed}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for task in readers:
        task.cancel()
    for http in sessions:
        await http.close()


class Load:
    """The load processes holding `total` sockets to one server between them."""

    def __init__(self, url: str, key: str, total: int, procs: int, answered: bool) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.job = {"url": url, "key": key, "answered": answered, "concurrency": 32}
        self.total, self.count = total, procs

    async def open(self) -> tuple[int, int]:
        share = -(-self.total // self.count)
        addresses = -(-share // PER_ADDRESS)
        for i in range(self.count):
            count = min(share, self.total - i * share)
            job = {**self.job, "count": count, "first_address": i * addresses}
            self.procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.idle_sockets",
                    "--hold",
                    json.dumps(job),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
            )
        held = failed = 0
        for proc in self.procs:
            assert proc.stdout is not None
            line = json.loads(await proc.stdout.readline())
            held, failed = held + line["held"], failed + line["failed"]
        return held, failed

    async def close(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


# --- one measurement -------------------------------------------------------------------------


async def _healthz(url: str, requests: int) -> list[float]:
    samples = []
    async with aiohttp.ClientSession() as http:
        for _ in range(requests):
            started = time.perf_counter()
            async with http.get(url + "/healthz") as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"/healthz answered {resp.status}")
            samples.append(time.perf_counter() - started)
    return samples


async def _warm_up(url: str, key: str) -> None:
    """One visitor in and out, so code paths run once are not counted per socket."""
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{url}/v1/widget/ws?key={key}", headers={"Origin": url})
        await ws.send_str(HELLO)
        await asyncio.sleep(0.3)
        await ws.close()
    await asyncio.sleep(0.3)


async def measure(
    name: str, pid: int, url: str, key: str, args: argparse.Namespace, answered: bool
) -> dict[str, float]:
    await _warm_up(url, key)
    before = rss_kb(pid)
    load = Load(url, key, args.sockets, args.load_procs, answered)
    started = time.monotonic()
    try:
        held, failed = await load.open()
        opened_in = time.monotonic() - started
        await asyncio.sleep(args.settle)
        after = rss_kb(pid)
        latency = await _healthz(url, args.healthz)
    finally:
        await load.close()
    if failed or held < args.sockets:
        progress(BENCH, f"{name}: {held:,} held, {failed:,} failed of {args.sockets:,}")
    progress(BENCH, f"{name}: {held:,} sockets opened in {opened_in:.1f} s, RSS {after:,} KB")
    return {
        "kb": (after - before) / held if held else 0.0,
        "p50": percentile(latency, 50) * 1000,
        "p99": percentile(latency, 99) * 1000,
        "held": float(held),
        "rss_mb": after / 1024,
    }


async def chat_stand_in(bus: Bus) -> None:
    """Chat's answers to a new visitor's hello, without its database."""

    async def presence(payload: dict[str, Any]) -> dict[str, Any]:
        return {"online_agents": 0, "agents": [], "away_message": None, "open": True}

    async def history(payload: dict[str, Any]) -> dict[str, Any]:
        return builtins(History())  # no conversation yet

    await bus.serve(bus.subjects.request("chat", "presence.get"), presence, queue="chat")
    await bus.serve(bus.subjects.request("chat", "history"), history, queue="chat")


async def run(args: argparse.Namespace) -> None:
    hard = raise_fd_limit()
    if args.sockets > hard - FD_MARGIN:
        progress(
            BENCH,
            f"{args.sockets:,} sockets asked, but RLIMIT_NOFILE's hard limit is {hard:,} here"
            f" (not raisable in this container): {hard - FD_MARGIN:,} instead",
        )
        args.sockets = hard - FD_MARGIN
    figures: dict[str, list[dict[str, float]]] = {"gateway": [], "bare": [], "before": []}
    with servers(with_mongo=False) as srv:
        settings = bench_settings(srv)
        bus = await bench_bus(settings)
        await chat_stand_in(bus)

        def gateway_of(source: str, into: list[dict[str, float]]) -> Callable[[], Awaitable[float]]:
            async def gateway() -> float:
                server = Gateway(settings, srv.nats.url, source)
                try:
                    await server.ready()
                    got = await measure(
                        "gateway" + (" before" if source else ""),
                        server.proc.pid,
                        server.url,
                        settings.write_key,
                        args,
                        True,
                    )
                finally:
                    stop_process(server.proc)
                into.append(got)
                return got["kb"]

            return gateway

        gateway = gateway_of("", figures["gateway"])

        async def bare() -> float:
            server = BareServer()
            try:
                await server.ready()
                got = await measure("bare", server.proc.pid, server.url, "-", args, False)
            finally:
                server.stop()
            figures["bare"].append(got)
            return got["kb"]

        try:
            case = f"{args.sockets:,} idle sockets"
            kb, bare_kb = await interleaved(BENCH, case, gateway, bare, args.reps)
            if args.against_src:  # this checkout's gateway against another's, interleaved
                before = gateway_of(args.against_src, figures["before"])
                now_kb, before_kb = await interleaved(
                    BENCH, case + " vs before", gateway_of("", []), before, args.reps
                )
        finally:
            await bus.close()
    settings_out = {**vars(args), "fd_hard_limit": hard, "per_address": PER_ADDRESS}
    ours, theirs = figures["gateway"], figures["bare"]
    records = [
        Record(
            BENCH,
            f"RSS per socket, {case}",
            "KB",
            kb,
            "bare aiohttp socket",
            bare_kb,
            target="<= 1.10x at 20,000",
            lower_is_better=True,
            settings={"held": [f["held"] for f in ours], "rss_mb": [f["rss_mb"] for f in ours]},
        ),
    ]
    if args.against_src:
        records.append(
            Record(
                BENCH,
                f"RSS per socket, {case}, vs before",
                "KB",
                now_kb,
                "gateway before",
                before_kb,
                lower_is_better=True,
            )
        )
    for pct in ("p50", "p99"):
        records.append(
            Record(
                BENCH,
                f"/healthz {pct} while held",
                "ms",
                [f[pct] for f in ours],
                "bare aiohttp /healthz",
                [f[pct] for f in theirs],
                lower_is_better=True,
            )
        )
    finish(BENCH, records, settings_out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--load-procs", type=int, default=4)
    parser.add_argument("--healthz", type=int, default=500, help="requests while held")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before RSS is read")
    parser.add_argument("--against-src", default="", help="another checkout's gateway too")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--hold", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        raise_fd_limit()
        web.run_app(bare_app(), host="127.0.0.1", port=args.serve_bare, print=None)
    elif args.hold:
        asyncio.run(_hold(json.loads(args.hold)))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
